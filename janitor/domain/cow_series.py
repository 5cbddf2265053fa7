"""Save observations and write rates from a series of INFO samples (pure).

A sample is one plain mapping per instance and moment (see ``CowSample``); only ``ts``, ``rss``
and the raw INFO fields under ``info`` are read. A fork child's copy-on-write is reported once it
ends (``rdb_last_cow_size`` / ``aof_last_cow_size``, with the run's duration in whole seconds);
the write rate around it comes from the deltas of ``rdb_changes_since_last_save`` between
samples (or of ``total_commands_processed``, an upper bound that counts reads too).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypedDict

from janitor.domain.server import parse_keyspace


class CowSample(TypedDict, total=False):
    """The fields of a history sample the COW model reads."""

    ts: float
    rss: int
    info: Mapping[str, Any]


@dataclass(frozen=True)
class ForkKind:
    """The INFO fields that describe one kind of fork child."""

    name: str
    count: str
    in_progress: str
    cow: str
    seconds: str
    status: str


CHANGES = "rdb_changes_since_last_save"
MIN_SPAN_SECONDS = 10.0
RDB = ForkKind(
    "rdb", "rdb_saves", "rdb_bgsave_in_progress", "rdb_last_cow_size",
    "rdb_last_bgsave_time_sec", "rdb_last_bgsave_status",
)  # fmt: skip
AOF = ForkKind(
    "aof", "aof_rewrites", "aof_rewrite_in_progress", "aof_last_cow_size",
    "aof_last_rewrite_time_sec", "aof_last_bgrewrite_status",
)  # fmt: skip


@dataclass(frozen=True)
class Point:
    """One sample, normalised: time, INFO fields and RSS."""

    ts: float
    info: Mapping[str, Any]
    rss: int | None = None

    def number(self, name: str) -> int | None:
        """An integer INFO field (None when absent or not a number)."""
        try:
            return int(self.info[name])
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Interval:
    """Writes counted between two samples."""

    start: float
    end: float
    writes: float
    source: str
    estimated: bool = False
    """Across a save's end: the writes are inferred from when the save ended (whole seconds)."""

    @property
    def rate(self) -> float:
        """Writes per second."""
        return self.writes / (self.end - self.start)


@dataclass(frozen=True)
class SaveObservation:
    """One finished fork child: what it copied, how long it ran, the write rate meanwhile."""

    kind: str
    end_ts: float
    seconds: float
    cow_bytes: int
    write_rate: float | None
    insert_rate: float | None = None
    """New keys per second meanwhile (the key count's growth); None without key counts."""

    @property
    def writes(self) -> float | None:
        """Writes while the child ran (rate x duration)."""
        return None if self.write_rate is None else self.write_rate * self.seconds

    @property
    def inserts(self) -> float:
        """Writes that added a key while the child ran (0 when unknown)."""
        return min(self.insert_rate or 0.0, self.write_rate or 0.0) * self.seconds

    @property
    def overwrites(self) -> float | None:
        """Writes to keys that existed (all writes when the key count is unknown)."""
        writes = self.writes
        return None if writes is None else max(0.0, writes - self.inserts)


def points(samples: Iterable[Mapping[str, Any]]) -> list[Point]:
    """Samples with a time and an INFO mapping, oldest first."""
    found = []
    for sample in samples:
        ts, info = sample.get("ts"), sample.get("info")
        if isinstance(ts, int | float) and isinstance(info, Mapping):
            rss = sample.get("rss")
            found.append(Point(float(ts), info, rss if isinstance(rss, int) else None))
    return sorted(found, key=lambda p: p.ts)


def completed(kind: ForkKind, a: Point, b: Point) -> bool:
    """Whether a child of ``kind`` ended between samples ``a`` and ``b``."""
    if b.number(kind.in_progress) != 0:
        return False
    if a.number(kind.in_progress) == 1:
        return True
    before, after = a.number(kind.count), b.number(kind.count)
    return before is not None and after is not None and after > before


def seconds_of(kind: ForkKind, point: Point) -> float | None:
    """The last child's duration (whole seconds; 0 means under a second, taken as 0.5)."""
    value = point.number(kind.seconds)
    if value is None or value < 0:
        return None
    return max(0.5, float(value))


def save_end(kind: ForkKind, a: Point, b: Point, seconds: float) -> float:
    """When the child that ended between ``a`` and ``b`` ended: ``rdb_last_save_time`` (whole
    seconds) when the sample has it, else the middle of the possible span."""
    earliest = a.ts if a.number(kind.in_progress) == 1 else min(a.ts + seconds, b.ts)
    saved_at = b.number("rdb_last_save_time") if kind is RDB else None
    if saved_at is not None and a.ts - 1 <= saved_at <= b.ts:
        return min(max(float(saved_at) + 0.5, earliest), b.ts)
    return (earliest + b.ts) / 2


def intervals(series: Sequence[Point]) -> list[Interval]:
    """Writes between consecutive samples.

    ``rdb_changes_since_last_save`` restarts from the writes made since the fork when a save
    ends; across such an interval the rate is its value over the time since the fork (the save's
    duration plus the time since it ended, see ``save_end``).
    """
    found = []
    for a, b in pairwise(series):
        span = b.ts - a.ts
        if span <= 0:
            continue
        before, after = a.number(CHANGES), b.number(CHANGES)
        if before is not None and after is not None:
            crossed = completed(RDB, a, b) or after < before
            if crossed:
                seconds = seconds_of(RDB, b) or 0.0
                since_fork = b.ts - save_end(RDB, a, b, seconds) + seconds
                writes = after * span / max(since_fork, 0.5)
            else:
                writes = after - before
            found.append(Interval(a.ts, b.ts, float(writes), CHANGES, crossed))
            continue
        c0, c1 = a.number("total_commands_processed"), b.number("total_commands_processed")
        if c0 is not None and c1 is not None and c1 >= c0:
            found.append(Interval(a.ts, b.ts, float(c1 - c0), "total_commands_processed"))
    return found


def rate_between(found: Sequence[Interval], start: float, end: float) -> float | None:
    """The mean write rate over ``[start, end]`` from the intervals overlapping it (``found`` in
    time order, as ``intervals`` gives them)."""
    weight = total = 0.0
    first = bisect_right(found, start, key=lambda interval: interval.end)
    for interval in found[first:]:
        if interval.start >= end:
            break
        overlap = min(end, interval.end) - max(start, interval.start)
        if overlap > 0:
            weight += overlap
            total += overlap * interval.rate
    if weight == 0:
        return None
    return total / weight


def observations(series: Sequence[Point], kind: ForkKind) -> list[SaveObservation]:
    """Every finished child of ``kind`` in the series, with the write rate while it ran."""
    found = intervals(series)
    counts = KeyCounts.of(series)
    saves = []
    for a, b in pairwise(series):
        if not completed(kind, a, b):
            continue
        status = b.info.get(kind.status, "ok")
        cow, seconds = b.number(kind.cow), seconds_of(kind, b)
        if status != "ok" or cow is None or seconds is None:
            continue
        end = save_end(kind, a, b, seconds)
        rate = rate_between(found, end - seconds, end)
        inserted = counts.insert_rate(end - seconds, end)
        saves.append(SaveObservation(kind.name, b.ts, seconds, cow, rate, inserted))
    return saves


def keys_of(point: Point) -> int | None:
    """Keys in all DBs at ``point``: the history's ``keys``, else INFO keyspace's ``dbN``."""
    recorded = point.number("keys")
    if recorded is not None:
        return recorded
    keyspace = parse_keyspace(point.info)
    return sum(keyspace.values()) if keyspace else None


@dataclass(frozen=True)
class KeyCounts:
    """The key count of each sample that has one, in time order."""

    times: Sequence[float]
    keys: Sequence[int]

    @classmethod
    def of(cls, series: Sequence[Point]) -> KeyCounts:
        """The counts of ``series`` (oldest first)."""
        counted = [(p.ts, keys) for p in series if (keys := keys_of(p)) is not None]
        return cls([ts for ts, _ in counted], [keys for _, keys in counted])

    def insert_rate(self, start: float, end: float) -> float | None:
        """New keys per second over ``[start, end]``: the key count's growth between the samples
        around it (0 when it shrank: deletes hide inserts); None without two key counts."""
        if len(self.times) < 2:
            return None
        before = max(bisect_right(self.times, start) - 1, 0)
        after = min(bisect_left(self.times, end), len(self.times) - 1)
        t0, t1 = self.times[before], self.times[after]
        if t1 <= t0:
            return None
        return max(0.0, (self.keys[after] - self.keys[before]) / (t1 - t0))


def recent_rate(series: Sequence[Point], window_seconds: float) -> tuple[float | None, str | None]:
    """The write rate over the last ``window_seconds`` (at least one interval), and its source."""
    found = intervals(series)
    if found:
        recent = _recent(found, window_seconds)
        span = sum(interval.end - interval.start for interval in recent)
        return sum(interval.writes for interval in recent) / span, found[-1].source
    if not series:
        return None, None
    last = series[-1]
    changes, saved_at = last.number(CHANGES), last.number("rdb_last_save_time")
    if changes is None or saved_at is None:
        return None, None
    # The changes count from the last save's fork, its duration before it ended.
    span = last.ts - saved_at + max(0, last.number(RDB.seconds) or 0)
    if span < MIN_SPAN_SECONDS:
        return None, None  # whole-second timestamps: too coarse to tell a rate
    return changes / span, "rdb_changes_since_last_save since the last save's fork"


def recent_insert_share(series: Sequence[Point], window_seconds: float) -> float | None:
    """The share of the recent writes that added keys, over the last intervals covering
    ``window_seconds`` whose writes were counted, not inferred across a save's end (the key
    count's growth against the writes of the same intervals); None without such intervals."""
    counted = [interval for interval in intervals(series) if not interval.estimated]
    if not counted:
        return None
    counts = KeyCounts.of(series)
    writes = inserts = 0.0
    for interval in _recent(counted, window_seconds):
        grown = counts.insert_rate(interval.start, interval.end)
        if grown is None:
            return None
        writes += interval.writes
        inserts += grown * (interval.end - interval.start)
    return min(1.0, inserts / writes) if writes > 0 else None


def _recent(found: Sequence[Interval], window_seconds: float) -> list[Interval]:
    """The last intervals covering ``window_seconds`` (at least one), newest first."""
    recent, span = [], 0.0
    for interval in reversed(found):
        recent.append(interval)
        span += interval.end - interval.start
        if span >= window_seconds:
            break
    return recent
