"""Archive files: the durable copy of every archived key, written before the key is deleted.

Layout (version 1) — self-describing, compressed per record, safe to append to:

    file   = b"RJARCHV1\\n" frame(header) frame(record)*
    frame  = b"RJR1" u32-BE(len(body)) u32-BE(crc32(body)) body
    body   = zlib( u32-BE(len(meta)) meta-JSON payload )

The header frame's JSON says what the file is (format, version, framing, run id, source instance
with its password masked); a record's JSON holds db, key (escaped and base64), type, absolute
expiry (``expire_at_ms``), idle/freq at judgment, bytes, the source, run id, time and the
payload's SHA-256; ``payload`` is the exact DUMP output. Each frame is written, flushed and
fsynced before :meth:`ArchiveWriter.append` returns (the directory is fsynced once the file
exists), so a crash can only tear the frame being written: the reader stops there, reports
``torn_tail`` and keeps every record before it. Files are 0600 in a 0700 directory.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import json
import os
import re
import stat
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from janitor.adapters.files.durable import fsync_directory
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.keynames import escape_key, key_base64

FILE_MAGIC = b"RJARCHV1\n"
FRAME_MAGIC = b"RJR1"
FRAME_HEADER = struct.Struct(">4sII")
META_LENGTH = struct.Struct(">I")
FORMAT_NAME = "redis-janitor-archive"
FORMAT_VERSION = 1
SUFFIX = ".rja"
FRAMING = (
    'after the 9-byte magic, frames: b"RJR1" + u32 BE body length + u32 BE CRC-32 of body; '
    "body = zlib(u32 BE JSON length + JSON metadata + Redis DUMP payload)"
)


class ArchiveError(JanitorError):
    """The archive directory or a file cannot be used safely (fix the path or its mode)."""

    exit_code = ExitCode.CONFIG


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


def ensure_private_dir(directory: Path) -> Path:
    """Create ``directory`` as 0700 if needed; refuse one that others can read or enter."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError as error:
        raise ArchiveError(f"archive dir {directory}: {error.strerror}") from None
    if mode & 0o077:
        raise ArchiveError(
            f"archive dir {directory} has mode {mode:04o}; archives hold your data",
            hint=f"chmod 700 {directory}",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ArchiveError(f"archive dir {directory} is not writable by this user")
    return directory


def encode_frame(meta: dict[str, Any], payload: bytes, level: int) -> bytes:
    """Return one frame (header + compressed body) for ``meta`` and ``payload``."""
    meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
    body = zlib.compress(META_LENGTH.pack(len(meta_bytes)) + meta_bytes + payload, level)
    return FRAME_HEADER.pack(FRAME_MAGIC, len(body), zlib.crc32(body)) + body


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "redis"


class ArchiveWriter:
    """Appends records to one new archive file; every append is durable when it returns.

    A failed append (disk full, I/O error) cuts the file back to its last whole record, so
    later records stay readable; if even that fails, every further append is refused.
    """

    def __init__(self, directory: Path, run_id: str, source: str, level: int = 6) -> None:
        self.directory = directory
        self.run_id = run_id
        self.source = source
        self.level = level
        self.path: Path | None = None
        self.records_written = 0
        self._descriptor: int | None = None
        self._good_size = 0
        self._broken = False

    def _create(self) -> int:
        ensure_private_dir(self.directory)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        base = f"{stamp}-{self.run_id}-{_slug(self.source)}"
        for attempt in range(100):
            self.path = self.directory / f"{base}{f'-{attempt}' if attempt else ''}{SUFFIX}"
            try:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            except OSError as error:
                raise ArchiveError(f"cannot create {self.path}: {error.strerror}") from None
            os.fchmod(descriptor, 0o600)
            return descriptor
        raise ArchiveError(f"cannot find a free archive file name in {self.directory}")

    def _start(self) -> None:
        """Create the file if needed and write its header if it is not on disk yet."""
        if self._descriptor is None:
            self._descriptor = self._create()
        if self._good_size:
            return
        header = {
            "kind": "header",
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "framing": FRAMING,
            "compression": "zlib",
            "run_id": self.run_id,
            "source": self.source,
            "created_at": time.time(),
        }
        self._write(FILE_MAGIC + encode_frame(header, b"", self.level))
        fsync_directory(self.directory)

    def _write(self, data: bytes) -> None:
        """Write all of ``data`` and fsync; on failure cut back to the last whole record."""
        assert self._descriptor is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._descriptor, view) :]
            os.fsync(self._descriptor)
        except OSError:
            try:
                os.ftruncate(self._descriptor, self._good_size)
                os.lseek(self._descriptor, self._good_size, os.SEEK_SET)
                os.fsync(self._descriptor)
            except OSError:
                self._broken = True
            raise
        self._good_size += len(data)

    def append(self, record: ArchiveRecord) -> None:
        """Write ``record`` and fsync it; when this returns the record survives a crash."""
        if self._broken:
            raise OSError(errno.EIO, "archive file unusable after a failed write")
        self._start()
        self._write(encode_frame(record.metadata(), record.payload, self.level))
        self.records_written += 1

    def close(self) -> None:
        """Close the file (every record is already durable)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _record_from(meta: dict[str, Any], payload: bytes) -> ArchiveRecord:
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


class ArchiveReader:
    """Iterates the records of one archive file; a damaged frame ends the iteration.

    After iterating, ``torn_tail`` is True when the file ends inside a frame (a crash while
    writing), and ``damage`` describes where and why reading stopped (None: the file is whole).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: dict[str, Any] = {}
        self.torn_tail = False
        self.damage: str | None = None
        self.records_read = 0

    def __iter__(self) -> Iterator[ArchiveRecord]:
        try:
            with self.path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                magic = handle.read(len(FILE_MAGIC))
                if magic != FILE_MAGIC:
                    self._stop(0, "not a redis-janitor archive", torn=FILE_MAGIC.startswith(magic))
                    return
                for meta, payload in self._frames(handle, size):
                    if meta.get("kind") == "header":
                        self.header = meta
                    elif meta.get("kind") == "key":
                        self.records_read += 1
                        yield _record_from(meta, payload)
        except OSError as error:
            raise ArchiveError(f"cannot read archive {self.path}: {error.strerror}") from None

    def _stop(self, offset: int, reason: str, torn: bool) -> None:
        self.torn_tail = torn
        self.damage = f"{reason} at byte {offset}"

    def _frames(
        self, handle: io.BufferedReader, size: int
    ) -> Iterator[tuple[dict[str, Any], bytes]]:
        while True:
            offset = handle.tell()
            head = handle.read(FRAME_HEADER.size)
            if not head:
                return
            if len(head) < FRAME_HEADER.size:
                self._stop(offset, "incomplete frame header", torn=True)
                return
            magic, length, crc = FRAME_HEADER.unpack(head)
            if magic != FRAME_MAGIC:
                self._stop(offset, "bad frame magic", torn=False)
                return
            body = handle.read(length)
            ends_file = offset + FRAME_HEADER.size + length >= size
            if len(body) < length or zlib.crc32(body) != crc:
                self._stop(offset, "incomplete or corrupt frame", torn=ends_file)
                return
            raw = zlib.decompress(body)
            (meta_length,) = META_LENGTH.unpack_from(raw)
            meta = json.loads(raw[META_LENGTH.size : META_LENGTH.size + meta_length])
            payload = raw[META_LENGTH.size + meta_length :]
            if meta.get("kind") == "key" and hashlib.sha256(payload).hexdigest() != meta.get(
                "payload_sha256"
            ):
                self._stop(offset, "payload checksum mismatch", torn=False)
                return
            yield meta, payload


def archive_files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the archive files in the directory, oldest first."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(child for child in path.iterdir() if child.suffix == SUFFIX)
    raise ArchiveError(f"no archive file or directory at {path}")
