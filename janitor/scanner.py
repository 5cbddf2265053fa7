"""The keyspace scanner: SCAN every DB and probe each key's size, staleness, TTL and type.

Only commands that leave the LRU/LFU clock alone are sent (SCAN, MEMORY USAGE, OBJECT
IDLETIME|FREQ, PTTL, TYPE), pipelined per SCAN batch. A key that disappears between SCAN and its
probes is skipped silently. SCAN may return a key twice while the table is resized; aggregates
then count it twice, which Redis's SCAN guarantees make rare.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis

from janitor.server_info import IdleMetric
from janitor.settings import ScanSettings

_TRACKING_ERRORS = ("idle time not tracked", "access frequency not tracked")
_PROBES_PER_KEY = 4


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the scan learned about one key; ``key`` is the exact bytes."""

    db: int
    key: bytes
    type: str
    size_bytes: int
    idle_seconds: int | None
    freq: int | None
    ttl_ms: int | None

    @property
    def ttl_seconds(self) -> float | None:
        """Remaining time to live in seconds, or None when the key does not expire."""
        return None if self.ttl_ms is None else self.ttl_ms / 1000


@dataclass(frozen=True)
class ScanOptions:
    """The knobs of one scan (see ScanSettings)."""

    count: int = 1000
    samples: int = 5
    match: bytes | None = None
    type: str | None = None
    pause_seconds: float = 0.0

    @classmethod
    def from_settings(cls, settings: ScanSettings) -> ScanOptions:
        """Build options from the ``[scan]`` section."""
        return cls(
            count=settings.count,
            samples=settings.samples,
            match=settings.match.encode() if settings.match is not None else None,
            type=settings.type,
            pause_seconds=settings.pause,
        )


ProgressCallback = Callable[[int], None]


class KeyspaceScanner:
    """Walks the DBs of one instance and yields KeyRecords in batches."""

    def __init__(
        self,
        client_for_db: Callable[[int], redis.Redis],
        idle_metric: IdleMetric,
        options: ScanOptions,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._client_for_db = client_for_db
        self._idle_metric = idle_metric
        self._options = options
        self._progress = progress

    def scan(self, dbs: Iterable[int]) -> Iterator[list[KeyRecord]]:
        """Yield batches of records for every key in ``dbs``, one DB after the other."""
        for db in dbs:
            yield from self.scan_db(db)

    def scan_db(self, db: int) -> Iterator[list[KeyRecord]]:
        """Yield batches of records for every key in logical database ``db``."""
        client = self._client_for_db(db)
        cursor = 0
        while True:
            cursor, keys = client.scan(
                cursor=cursor,
                match=self._options.match,
                count=self._options.count,
                _type=self._options.type,
            )
            if keys:
                yield self.probe(client, db, cast(list[bytes], keys))
                if self._progress is not None:
                    self._progress(len(keys))
                if self._options.pause_seconds:
                    time.sleep(self._options.pause_seconds)
            if cursor == 0:
                return

    def probe(self, client: redis.Redis, db: int, keys: list[bytes]) -> list[KeyRecord]:
        """Probe ``keys`` in one pipelined round trip; vanished keys are left out."""
        idle_subcommand = "FREQ" if self._idle_metric is IdleMetric.FREQ else "IDLETIME"
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("MEMORY USAGE", key, "SAMPLES", self._options.samples)
            pipe.execute_command("OBJECT " + idle_subcommand, key)
            pipe.execute_command("PTTL", key)
            pipe.execute_command("TYPE", key)
        replies = pipe.execute(raise_on_error=False)
        records = []
        for index, key in enumerate(keys):
            start = index * _PROBES_PER_KEY
            record = self._record(db, key, replies[start : start + _PROBES_PER_KEY])
            if record is not None:
                records.append(record)
        return records

    def _record(self, db: int, key: bytes, replies: list[Any]) -> KeyRecord | None:
        size, staleness, pttl, key_type = (_checked(reply) for reply in replies)
        if size is None or pttl == -2 or key_type in (b"none", "none", None):
            return None
        type_name = key_type.decode() if isinstance(key_type, bytes) else str(key_type)
        staleness = None if staleness is _NOT_TRACKED else staleness
        is_freq = self._idle_metric is IdleMetric.FREQ
        return KeyRecord(
            db=db,
            key=key,
            type=type_name,
            size_bytes=int(size),
            idle_seconds=None if is_freq or staleness is None else int(staleness),
            freq=int(staleness) if is_freq and staleness is not None else None,
            ttl_ms=None if pttl is None or int(pttl) < 0 else int(pttl),
        )


_NOT_TRACKED = object()


def _checked(reply: Any) -> Any:
    """Return ``reply``; tracking-policy errors become a marker, other errors are raised."""
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
