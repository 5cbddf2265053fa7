"""The per-key probes of the scanner as raw RESP: one packed buffer out, KeyRecords back.

Four commands per key, none of which touches the LRU/LFU clock: ``MEMORY USAGE key SAMPLES n``,
``OBJECT IDLETIME key`` (``OBJECT FREQ`` under an LFU policy), ``PTTL key`` and ``TYPE key``.
Pure code: ``ProbePacker.pack(keys)`` builds the bytes, ``decode_probes(...)`` turns the parsed
replies (ints, ``None``, status bytes, error values) into KeyRecords, leaving out keys that
vanished between SCAN and the probes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import hiredis
import redis

from janitor.adapters.redis.resp import encode_arg, pack_command, to_redis_error
from janitor.domain.keys import KeyRecord, fast_key_record_constructor
from janitor.domain.server import IdleMetric

PROBES_PER_KEY = 4
_TRACKING_ERRORS = ("idle time not tracked", "access frequency not tracked")
DEFAULT_MEMORY_SAMPLES = 5
"""MEMORY USAGE's own SAMPLES default (OBJ_COMPUTE_SIZE_DEF_SAMPLES, Redis ≥ 4.0 and Valkey)."""
_TYPE_NAMES = {name.encode(): name for name in ("string", "list", "set", "zset", "hash", "stream")}


_new_record = fast_key_record_constructor()


def memory_usage_template(samples: int) -> bytes:
    """``MEMORY USAGE %b [SAMPLES n]`` as a %-template for one key argument.

    SAMPLES is left out when it is Redis's own default (5, since MEMORY USAGE exists): two
    arguments fewer per key for the client to pack and the server to parse.
    """
    if samples == DEFAULT_MEMORY_SAMPLES:
        return (b"*3\r\n" + encode_arg("MEMORY") + encode_arg("USAGE")).replace(b"%", b"%%") + b"%b"
    return (
        (b"*5\r\n" + encode_arg("MEMORY") + encode_arg("USAGE")).replace(b"%", b"%%")
        + b"%b"
        + (encode_arg("SAMPLES") + encode_arg(samples)).replace(b"%", b"%%")
    )


class ProbePacker:
    """Packs the four probes of every key of a batch into one RESP buffer."""

    def __init__(self, idle_metric: IdleMetric, samples: int) -> None:
        subcommand = "FREQ" if idle_metric is IdleMetric.FREQ else "IDLETIME"
        parts = (
            (b"*3\r\n" + encode_arg("OBJECT") + encode_arg(subcommand), b"%b"),
            (b"*2\r\n" + encode_arg("PTTL"), b"%b"),
            (b"*2\r\n" + encode_arg("TYPE"), b"%b"),
        )
        meta = b"".join(fixed.replace(b"%", b"%%") + slot for fixed, slot in parts)
        self._template = memory_usage_template(samples) + meta

    def pack(self, keys: Sequence[bytes]) -> bytes:
        """Return the probes of ``keys``, ``PROBES_PER_KEY`` commands per key, in key order."""
        template = self._template
        args = [b"$%d\r\n%b\r\n" % (len(key), key) for key in keys]
        return b"".join([template % (arg, arg, arg, arg) for arg in args])


def pack_scan(
    cursor: int | bytes, count: int, match: bytes | None = None, type_name: str | None = None
) -> bytes:
    """Return one ``SCAN cursor [MATCH m] COUNT c [TYPE t]`` command."""
    if match is None and type_name is None and isinstance(cursor, int):  # every request: fast
        cursor_text, count_text = b"%d" % cursor, b"%d" % count
        return b"*4\r\n$4\r\nSCAN\r\n$%d\r\n%b\r\n$5\r\nCOUNT\r\n$%d\r\n%b\r\n" % (
            len(cursor_text),
            cursor_text,
            len(count_text),
            count_text,
        )
    args: list[bytes | str | int] = ["SCAN", cursor]
    if match is not None:
        args += ["MATCH", match]
    args += ["COUNT", count]
    if type_name is not None:
        args += ["TYPE", type_name]
    return pack_command(*args)


def scan_reply(reply: Any) -> tuple[int, list[bytes]]:
    """Return (next cursor, keys) from a SCAN reply; an error reply is raised."""
    if isinstance(reply, hiredis.ReplyError):
        raise to_redis_error(reply)
    if isinstance(reply, Exception):
        raise reply
    cursor, keys = reply
    return int(cursor), keys


def decode_probes(
    db: int, keys: Sequence[bytes], replies: Sequence[Any], idle_metric: IdleMetric
) -> list[KeyRecord]:
    """Return the records of ``keys`` from their probe replies, vanished keys left out."""
    if len(replies) != PROBES_PER_KEY * len(keys):
        raise ValueError(
            f"{len(replies)} probe replies do not zip with {len(keys)} keys"
            f" ({PROBES_PER_KEY} per key)"
        )
    step = PROBES_PER_KEY
    return decode_records(
        db,
        keys,
        (replies[0::step], replies[1::step], replies[2::step], replies[3::step]),
        idle_metric is IdleMetric.FREQ,
    )


def decode_records(
    db: int,
    keys: Sequence[bytes],
    replies_by_probe: tuple[Iterable[Any], Iterable[Any], Iterable[Any], Iterable[Any]],
    is_freq: bool,
) -> list[KeyRecord]:
    """The scan's hot loop: records from the (size, staleness, PTTL, TYPE) replies of ``keys``.

    ``replies_by_probe`` holds one sequence per probe, in key order (the PTTL one may be an
    endless ``repeat(-1)`` where no PTTL was asked). Vanished keys are left out; errors other
    than "not tracked" are raised (see ``_unusual_record``).
    """
    names = _TYPE_NAMES
    new_record = _new_record
    records: list[KeyRecord] = []
    append = records.append
    sizes, stalenesses, pttls, types = replies_by_probe
    for key, size, staleness, pttl, key_type in zip(  # noqa: B905 (pttls may be endless)
        keys, sizes, stalenesses, pttls, types
    ):
        type_name = names.get(key_type)  # None for b"none", module types, errors, nil
        if (
            type_name is None
            or size.__class__ is not int
            or staleness.__class__ is not int
            or pttl.__class__ is not int
            or pttl == -2
        ):
            record = _unusual_record(db, key, (size, staleness, pttl, key_type), is_freq)
            if record is not None:
                append(record)
            continue
        append(
            new_record(
                db,
                key,
                type_name,
                size,
                None if is_freq else staleness,
                staleness if is_freq else None,
                pttl if pttl >= 0 else None,
            )
        )
    return records


_NOT_TRACKED = object()


def _unusual_record(
    db: int, key: bytes, replies: tuple[Any, Any, Any, Any], is_freq: bool
) -> KeyRecord | None:
    """The slow path: a vanished key (None), or errors (raised unless about tracking)."""
    commands = ("memory|usage", "object|freq" if is_freq else "object|idletime", "pttl", "type")
    size, staleness, pttl, key_type = map(_checked, replies, commands)
    if size is None or pttl == -2 or key_type in (b"none", None):
        return None
    staleness = None if staleness is _NOT_TRACKED else staleness
    type_name = key_type.decode() if isinstance(key_type, bytes) else str(key_type)
    return KeyRecord(
        db=db,
        key=key,
        type=type_name,
        size_bytes=int(size),
        idle_seconds=None if is_freq or staleness is None else int(staleness),
        freq=int(staleness) if is_freq and staleness is not None else None,
        ttl_ms=None if pttl is None or int(pttl) < 0 else int(pttl),
    )


def _checked(reply: Any, command: str) -> Any:
    """Return ``reply``; tracking-policy errors become a marker, other errors are raised."""
    if isinstance(reply, hiredis.ReplyError):
        reply = to_redis_error(reply)
    if isinstance(reply, redis.exceptions.NoPermissionError) and f"'{command}'" not in str(reply):
        # Redis 6.2 names only the container command ("the 'memory' command or its subcommand").
        raise redis.exceptions.NoPermissionError(
            f"this user has no permissions to run the '{command}' command ({reply})"
        )
    if isinstance(reply, redis.exceptions.AskError):  # MOVED too: migrated away, not here now
        return None
    if isinstance(reply, redis.ResponseError):
        message = str(reply)
        if any(fragment in message for fragment in _TRACKING_ERRORS):
            return _NOT_TRACKED
        if "no such key" in message.lower():
            return None
        raise reply
    if isinstance(reply, Exception):
        raise reply
    return reply
