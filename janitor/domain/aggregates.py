"""Streaming keyspace aggregates: memory stays bounded whatever the number of keys.

Pure code: feed KeyRecords to ``KeyspaceAggregates.add`` and read the totals, the bounded top-N
largest keys, the per-prefix counts (capped, the rest in ``(other)``) and the histograms.
"""

from __future__ import annotations

import heapq
import itertools
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from janitor.domain.keys import KeyRecord

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
_IDLE_LIMITS = tuple(limit for _, limit in IDLE_BUCKETS[:-1])
_IDLE_LABELS = tuple(label for label, _ in IDLE_BUCKETS)
_TTL_LIMITS_MS = tuple(int(limit * 1000) for _, limit in TTL_BUCKETS[:-1])
_TTL_LABELS = tuple(label for label, _ in TTL_BUCKETS)
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
    found = [index for index in (key.find(bytes((byte,))) for byte in separators) if index >= 0]
    return key[: min(found)] if found else NO_PREFIX


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
    sample_rate: float | None = None
    """Set by ``start_sampling``: type, idle and TTL tables are then estimates from a sample."""
    _top: list[tuple[int, int, KeyRecord]] = field(default_factory=list, repr=False)
    _sequence: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    _sample_below: int = field(default=2**32, repr=False)

    def add(self, record: KeyRecord) -> None:
        """Account for one key."""
        self.add_all((record,))

    def add_all(self, records: Iterable[KeyRecord]) -> None:
        """Account for every record in ``records`` (the fast path: call it once per batch).

        Records are first counted per distinct (db, type, size bucket, idle bucket, TTL bucket,
        prefix) in a batch-local table, which is then folded into the histograms, so the
        per-key work is one tuple and one dict update.
        """
        batch: dict[tuple[int, str, int, str, str, bytes], list[int]] = {}
        separators = self.separators
        single_separator = len(separators) == 1
        idle_limits, idle_labels = _IDLE_LIMITS, _IDLE_LABELS
        ttl_limits, ttl_labels = _TTL_LIMITS_MS, _TTL_LABELS
        top_floor = self.top_floor()
        for record in records:
            size = record.size_bytes
            idle = record.idle_seconds
            ttl = record.ttl_ms
            key = record.key
            if single_separator:
                found = key.find(separators)
                prefix = key[:found] if found >= 0 else NO_PREFIX
            else:
                prefix = key_prefix(key, separators)
            combo = (
                record.db,
                record.type,
                1 << (size - 1).bit_length() if size > 1 else 1,
                IDLE_NOT_TRACKED if idle is None else idle_labels[bisect_right(idle_limits, idle)],
                TTL_NONE if ttl is None else ttl_labels[bisect_right(ttl_limits, ttl)],
                prefix,
            )
            tally = batch.get(combo)
            if tally is None:
                batch[combo] = [1, size]
            else:
                tally[0] += 1
                tally[1] += size
            if size > top_floor:
                self.add_top(record)
                top_floor = self.top_floor()
        self.fold(batch)

    def start_sampling(self, rate: float) -> None:
        """Estimate by type, idle and TTL from a ``rate`` sample (0 < rate < 1) of the keys.

        Then feed every key's size through ``add_sizes`` (totals, DBs, size histogram and
        prefixes stay exact), probe the rest only for keys ``wants_metadata`` picks, feed
        those records to ``add_sampled`` (the top-N stays exact), and call ``finish_sampling``.
        A key is in the sample when the CRC-32 of its name falls under ``rate`` (the same keys
        every run).
        """
        self.sample_rate = rate
        self._sample_below = int(rate * 2**32)

    def in_sample(self, key: bytes) -> bool:
        """True when ``key`` belongs to the sample."""
        return zlib.crc32(key) < self._sample_below

    def wants_metadata(self, key: bytes, size: int) -> bool:
        """True for a sampled key or one big enough to enter the top-N."""
        return size > self.top_floor() or zlib.crc32(key) < self._sample_below

    def add_sizes(self, db: int, keys: Sequence[bytes], sizes: Sequence[object]) -> None:
        """Account exactly for the size of every key (non-integer replies are skipped)."""
        separators = self.separators
        single_separator = len(separators) == 1
        batch: dict[tuple[int, bytes], list[int]] = {}
        for key, size in zip(keys, sizes, strict=True):
            if size.__class__ is not int:
                continue
            assert isinstance(size, int)
            if single_separator:
                found = key.find(separators)
                prefix = key[:found] if found >= 0 else NO_PREFIX
            else:
                prefix = key_prefix(key, separators)
            combo = (1 << (size - 1).bit_length() if size > 1 else 1, prefix)
            tally = batch.get(combo)
            if tally is None:
                batch[combo] = [1, size]
            else:
                tally[0] += 1
                tally[1] += size
        by_db = _tally(self.by_db, db)
        for (size_limit, prefix), (count, size) in batch.items():
            self.total.add(size, count)
            by_db.add(size, count)
            _tally(self.size_histogram, size_limit).add(size, count)
            self._add_prefix(prefix, size, count)

    def add_sampled(self, records: Iterable[KeyRecord]) -> None:
        """Account for the records ``wants_metadata`` picked: sample tables and the top-N."""
        for record in records:
            if record.size_bytes > self.top_floor():
                self.add_top(record)
            if not self.in_sample(record.key):
                continue
            size = record.size_bytes
            _tally(self.by_type, record.type).add(size)
            _tally(self.idle_histogram, idle_bucket(record.idle_seconds)).add(size)
            _tally(self.ttl_histogram, ttl_bucket(record.ttl_ms)).add(size)

    def finish_sampling(self) -> None:
        """Scale the sampled tables up to estimates for the whole keyspace."""
        if not self.sample_rate:
            return
        for table in (self.by_type, self.idle_histogram, self.ttl_histogram):
            for tally in table.values():
                tally.keys = round(tally.keys / self.sample_rate)
                tally.bytes = round(tally.bytes / self.sample_rate)

    def fold(self, batch: dict[tuple[int, str, int, str, str, bytes], list[int]]) -> None:
        """Add per-combination (keys, bytes) counts into every table."""
        for (db, type_name, size_limit, idle, ttl, prefix), (keys, size) in batch.items():
            self.total.add(size, keys)
            _tally(self.by_db, db).add(size, keys)
            _tally(self.by_type, type_name).add(size, keys)
            _tally(self.size_histogram, size_limit).add(size, keys)
            _tally(self.idle_histogram, idle).add(size, keys)
            _tally(self.ttl_histogram, ttl).add(size, keys)
            self._add_prefix(prefix, size, keys)

    def top_floor(self) -> int:
        """The size a key must exceed to enter the top-N (-1 while there is room)."""
        if self.top_n <= 0:
            return 1 << 62
        return self._top[0][0] if len(self._top) >= self.top_n else -1

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
        if other.sample_rate is not None:
            self.sample_rate = min(self.sample_rate or 1.0, other.sample_rate)
        for record in other.top_keys():
            self.add_top(record)

    def top_keys(self) -> list[KeyRecord]:
        """Return the largest keys seen, largest first; ties by db, then key bytes (stable runs)."""
        ordered = sorted(self._top, key=lambda item: (-item[0], item[2].db, item[2].key))
        return [record for _, _, record in ordered]

    def _add_prefix(self, prefix: bytes, size: int, keys: int = 1) -> None:
        if prefix not in self.by_prefix and len(self.by_prefix) >= self.max_prefixes:
            prefix = OTHER_PREFIX
            self.prefixes_truncated = True
        _tally(self.by_prefix, prefix).add(size, keys)

    def add_top(self, record: KeyRecord) -> None:
        """Offer ``record`` to the top-N only (callers check ``top_floor`` first)."""
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
