"""The archive file format: records, frames and their checks (no file handling here).

Version 2 (written since) — every frame can be found again after damage:

    file   = b"RJARCHV2\\n" frame(header) frame(record)*
    frame  = b"RJF2" u32-BE(len(body)) u32-BE(crc32(body)) u32-BE(crc32(first 12 bytes)) body
    body   = zlib( u32-BE(len(meta)) meta-JSON payload )

The frame header carries its own CRC, so a damaged length is recognised as damage (not as a
torn tail), and a reader that meets a bad frame scans forward for the next b"RJF2" whose header
CRC and body CRC both hold. Version 1 (still read) had b"RJARCHV1\\n" and 12-byte frame headers
b"RJR1" u32 length u32 crc32(body), without a header CRC.

The header frame's JSON says what the file is (format, version, framing, run id, source with its
password masked); a record's JSON holds db, key (escaped and base64), type, absolute expiry
(``expire_at_ms``), idle/freq at judgment, bytes, source, run id, time and the payload's SHA-256;
``payload`` is the exact DUMP output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from janitor.core.keynames import escape_key, key_base64

FILE_MAGIC = b"RJARCHV2\n"
FILE_MAGIC_V1 = b"RJARCHV1\n"
FRAME_MAGIC = b"RJF2"
FRAME_MAGIC_V1 = b"RJR1"
FRAME_HEADER = struct.Struct(">4sIII")
FRAME_HEADER_V1 = struct.Struct(">4sII")
META_LENGTH = struct.Struct(">I")
FORMAT_NAME = "redis-janitor-archive"
FORMAT_VERSION = 2
SUFFIX = ".rja"
FRAMING = (
    'after the 9-byte magic, frames: b"RJF2" + u32 BE body length + u32 BE CRC-32 of body + '
    "u32 BE CRC-32 of the 12 bytes before it; "
    "body = zlib(u32 BE JSON length + JSON metadata + Redis DUMP payload)"
)


@dataclass(frozen=True)
class ArchiveRecord:
    """One archived key: what RESTORE needs plus what the operator wants to know."""

    db: int
    key: bytes
    type: str
    payload: bytes
    expire_at_ms: int | None
    idle_seconds: int | None
    freq: int | None
    size_bytes: int
    source: str
    run_id: str
    archived_at: float
    rule: str = ""

    @property
    def payload_sha256(self) -> str:
        """Hex SHA-256 of the DUMP payload (stored, and checked when reading)."""
        return hashlib.sha256(self.payload).hexdigest()

    def metadata(self) -> dict[str, Any]:
        """The JSON half of the record."""
        return {
            "kind": "key",
            "db": self.db,
            "key": escape_key(self.key),
            "key_base64": key_base64(self.key),
            "type": self.type,
            "expire_at_ms": self.expire_at_ms,
            "idle_seconds": self.idle_seconds,
            "freq": self.freq,
            "bytes": self.size_bytes,
            "payload_bytes": len(self.payload),
            "payload_sha256": self.payload_sha256,
            "source": self.source,
            "run_id": self.run_id,
            "archived_at": self.archived_at,
            "rule": self.rule,
        }


def record_from(meta: dict[str, Any], payload: bytes) -> ArchiveRecord:
    """The record a key frame's metadata and payload describe."""
    return ArchiveRecord(
        db=int(meta["db"]),
        key=base64.b64decode(meta["key_base64"]),
        type=str(meta["type"]),
        payload=payload,
        expire_at_ms=meta.get("expire_at_ms"),
        idle_seconds=meta.get("idle_seconds"),
        freq=meta.get("freq"),
        size_bytes=int(meta.get("bytes", 0)),
        source=str(meta.get("source", "")),
        run_id=str(meta.get("run_id", "")),
        archived_at=float(meta.get("archived_at", 0)),
        rule=str(meta.get("rule", "")),
    )


def encode_frame(meta: dict[str, Any], payload: bytes, level: int) -> bytes:
    """One version-2 frame (header with its CRC + compressed body) for ``meta`` and ``payload``."""
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    body = zlib.compress(META_LENGTH.pack(len(meta_bytes)) + meta_bytes + payload, level)
    head = struct.pack(">4sII", FRAME_MAGIC, len(body), zlib.crc32(body))
    return head + struct.pack(">I", zlib.crc32(head)) + body


class FrameError(ValueError):
    """A frame whose body passed its CRC but does not decode (or whose payload digest differs)."""


def decode_body(body: bytes) -> tuple[dict[str, Any], bytes]:
    """Metadata and payload of a frame body whose CRC held; FrameError when they do not add up."""
    try:
        raw = zlib.decompress(body)
        (meta_length,) = META_LENGTH.unpack_from(raw)
        meta = json.loads(raw[META_LENGTH.size : META_LENGTH.size + meta_length])
    except (zlib.error, struct.error, ValueError) as error:
        raise FrameError(f"undecodable frame ({error.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise FrameError("frame metadata is not an object")
    payload = raw[META_LENGTH.size + meta_length :]
    if meta.get("kind") == "key" and hashlib.sha256(payload).hexdigest() != meta.get(
        "payload_sha256"
    ):
        raise FrameError("payload checksum mismatch")
    return meta, payload
