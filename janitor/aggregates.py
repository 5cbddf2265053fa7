"""Streaming keyspace aggregates: memory stays bounded whatever the number of keys.

Pure code: feed KeyRecords to ``KeyspaceAggregates.add`` and read the totals, the bounded top-N
largest keys, the per-prefix counts (capped, the rest in ``(other)``) and the histograms.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from janitor.scanner import KeyRecord

HOUR = 3600
DAY = 24 * HOUR
IDLE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("lt_1h", HOUR),
    ("lt_1d", DAY),
    ("lt_7d", 7 * DAY),
    ("lt_30d", 30 * DAY),
    ("ge_30d", float("inf")),
)
IDLE_NOT_TRACKED = "not_tracked"
TTL_BUCKETS: tuple[tuple[str, float], ...] = (
    ("lt_1h", HOUR),
    ("lt_1d", DAY),
    ("lt_7d", 7 * DAY),
    ("ge_7d", float("inf")),
)
TTL_NONE = "none"
OTHER_PREFIX = b"(other)"
NO_PREFIX = b""
_Name = TypeVar("_Name")


@dataclass
class Tally:
    """A count of keys and the bytes they use."""

    keys: int = 0
    bytes: int = 0

    def add(self, size_bytes: int, keys: int = 1) -> None:
        """Count ``keys`` more keys holding ``size_bytes``."""
        self.keys += keys
        self.bytes += size_bytes

    def merge(self, other: Tally) -> None:
        """Add another tally into this one."""
        self.add(other.bytes, other.keys)


def size_bucket(size_bytes: int) -> int:
    """Return the smallest power of two that is ≥ ``size_bytes`` (1 for 0 and 1)."""
    return 1 if size_bytes <= 1 else 1 << (size_bytes - 1).bit_length()


def idle_bucket(idle_seconds: int | None) -> str:
    """Return the idle-time bucket label for ``idle_seconds`` (None: not tracked, LFU)."""
    if idle_seconds is None:
        return IDLE_NOT_TRACKED
    return next(label for label, limit in IDLE_BUCKETS if idle_seconds < limit)


def ttl_bucket(ttl_ms: int | None) -> str:
    """Return the TTL bucket label for a PTTL value (None: the key never expires)."""
    if ttl_ms is None:
        return TTL_NONE
    return next(label for label, limit in TTL_BUCKETS if ttl_ms / 1000 < limit)


def key_prefix(key: bytes, separators: bytes) -> bytes:
    """Return ``key`` up to (not including) the first separator byte, or b"" when it has none."""
    for index, byte in enumerate(key):
        if byte in separators:
            return key[:index]
    return NO_PREFIX


@dataclass
class KeyspaceAggregates:
    """Totals and histograms over a stream of KeyRecords, with bounded memory."""

    top_n: int = 50
    separators: bytes = b":"
    max_prefixes: int = 1000
    total: Tally = field(default_factory=Tally)
    by_db: dict[int, Tally] = field(default_factory=dict)
    by_type: dict[str, Tally] = field(default_factory=dict)
    by_prefix: dict[bytes, Tally] = field(default_factory=dict)
    size_histogram: dict[int, Tally] = field(default_factory=dict)
    idle_histogram: dict[str, Tally] = field(default_factory=dict)
    ttl_histogram: dict[str, Tally] = field(default_factory=dict)
    prefixes_truncated: bool = False
    _top: list[tuple[int, int, KeyRecord]] = field(default_factory=list, repr=False)
    _sequence: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def add(self, record: KeyRecord) -> None:
        """Account for one key."""
        size = record.size_bytes
        self.total.add(size)
        _tally(self.by_db, record.db).add(size)
        _tally(self.by_type, record.type).add(size)
        _tally(self.size_histogram, size_bucket(size)).add(size)
        _tally(self.idle_histogram, idle_bucket(record.idle_seconds)).add(size)
        _tally(self.ttl_histogram, ttl_bucket(record.ttl_ms)).add(size)
        self._add_prefix(key_prefix(record.key, self.separators), size)
        self._add_top(record)

    def add_all(self, records: Iterable[KeyRecord]) -> None:
        """Account for every record in ``records``."""
        for record in records:
            self.add(record)

    def merge(self, other: KeyspaceAggregates) -> None:
        """Fold another instance's aggregates into this one (for the all-instances view)."""
        self.total.merge(other.total)
        tables: tuple[tuple[dict[Any, Tally], dict[Any, Tally]], ...] = (
            (self.by_db, other.by_db),
            (self.by_type, other.by_type),
            (self.size_histogram, other.size_histogram),
            (self.idle_histogram, other.idle_histogram),
            (self.ttl_histogram, other.ttl_histogram),
        )
        for mine, theirs in tables:
            for name, tally in theirs.items():
                _tally(mine, name).merge(tally)
        for prefix, tally in other.by_prefix.items():
            self._add_prefix(prefix, tally.bytes, tally.keys)
        self.prefixes_truncated |= other.prefixes_truncated
        for record in other.top_keys():
            self._add_top(record)

    def top_keys(self) -> list[KeyRecord]:
        """Return the largest keys seen, largest first."""
        return [record for _, _, record in sorted(self._top, key=lambda item: (-item[0], -item[1]))]

    def _add_prefix(self, prefix: bytes, size: int, keys: int = 1) -> None:
        if prefix not in self.by_prefix and len(self.by_prefix) >= self.max_prefixes:
            prefix = OTHER_PREFIX
            self.prefixes_truncated = True
        _tally(self.by_prefix, prefix).add(size, keys)

    def _add_top(self, record: KeyRecord) -> None:
        if self.top_n <= 0:
            return
        entry = (record.size_bytes, -next(self._sequence), record)
        if len(self._top) < self.top_n:
            heapq.heappush(self._top, entry)
        elif entry[0] > self._top[0][0]:
            heapq.heapreplace(self._top, entry)


def _tally(table: dict[_Name, Tally], name: _Name) -> Tally:
    tally = table.get(name)
    if tally is None:
        tally = table[name] = Tally()
    return tally
