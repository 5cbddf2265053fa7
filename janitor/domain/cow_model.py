"""Expected copy-on-write of the next fork child, learned from the saves seen so far (pure).

COW is the memory written while the child runs. Writes that add keys (the key count's growth)
land in memory allocated after the fork and copy only the key table's buckets
(``cow_prior.inserts_copied``). Overwrites copy bytes per write ``k`` times their number,
saturating at the resident set S (a page is copied once): a save that copied C bytes under W
overwrites gives ``k = -S ln(1 - C/S) / W``; the next save's ``k`` is interpolated between observed
saves by their overwrites (log scale), or, when the host allows, taken from a soft-dirty window
about as long as the run (distinct pages the current writes dirtied, ``cow_window``), which sees
the locality of writes INFO cannot. What a save copied at zero writes is a base added to every
prediction. Never below what a save under similar writes (and pattern, with a window) copied, nor
below the running child's peak. With no save under overwrites observed, the prior of
``cow_prior`` (a key index and the data, each saturating), in 2 MiB units under transparent huge
pages. Under two observed saves the prediction is ``estimated``. Without usable history: the
largest last COW figure INFO reports, else ``cow_fraction`` x RSS, raised to the prior's figure
when writes are happening now.
See docs/domain.md §2 (mode 1: copy-on-write), §5 (copy-on-write of a save, measured) and §5a
(what else forks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from janitor.domain import cow_series as series
from janitor.domain.cow_duration import QUIET_RATE, next_seconds
from janitor.domain.cow_prior import WritePools, inserts_copied, write_pools
from janitor.domain.cow_series import AOF, RDB, ForkKind, Point, SaveObservation
from janitor.domain.cow_window import (
    SIMILAR,
    DirtyWindow,
    same_pattern,
    unsaturated,
    used_window,
)

HUGE_PAGE = 2 << 20
RATE_WINDOW_SECONDS = 5.0
RECENT_SAVES = 6
QUIET_BASE_SAVES = 3
OVERWRITE_SHARE = 0.25
"""A save calibrates bytes per overwrite when at least this share of its writes overwrote keys."""
COUNTER_NOISE = 0.02
"""Writes and new keys counted by different counters agree to about this share of the writes."""


@dataclass(frozen=True)
class CowFacts:
    """What is known now: INFO, RSS, the host's page size and THP state, Redis's disable-thp."""

    info: Mapping[str, Any]
    ts: float
    rss_bytes: int
    page_size: int = 4096
    thp_enabled: str | None = None
    disable_thp: bool | None = None
    cow_fraction: float = 0.5
    expected_seconds: float | None = None
    """The next run's duration when known in hindsight (the bench's second column)."""
    dirty: DirtyWindow | None = None
    """Distinct pages dirtied over a recent window (soft-dirty bits), when the host allows."""
    dirty_note: str | None = None
    """Why there is no such window (or what it was), for the reasons."""

    @property
    def huge_pages(self) -> bool:
        """THP ``always`` and Redis not opting out (``disable-thp no``, or unknown)."""
        return self.thp_enabled == "always" and self.disable_thp is not True


@dataclass(frozen=True)
class CowPrediction:
    """The expected COW of the next fork child and how it was reached."""

    kind: str
    bytes: int
    estimated: bool
    saves_observed: int
    source: str
    reasons: tuple[str, ...] = ()
    write_rate: float | None = None
    seconds: float | None = None
    kinds: Mapping[str, int] = field(default_factory=dict)

    @property
    def guessed(self) -> bool:
        """True for the ``cow_fraction`` x RSS guess (it shrinks as the dataset shrinks)."""
        return self.source == "rss_fraction"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``cow_model`` of a headroom instance)."""
        return {
            "kind": self.kind,
            "bytes": self.bytes,
            "estimated": self.estimated,
            "saves_observed": self.saves_observed,
            "source": self.source,
            "write_rate": None if self.write_rate is None else round(self.write_rate, 1),
            "seconds": self.seconds,
            "kinds": dict(self.kinds),
            "reasons": list(self.reasons),
        }


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def predict_cow(samples: Sequence[Mapping[str, Any]], facts: CowFacts) -> CowPrediction:
    """The largest expected COW among the children this instance forks (RDB always, AOF
    rewrite when AOF is on, full sync when it has replicas); ``samples`` are its history,
    oldest first (may be empty)."""
    points = [*series.points(samples), Point(facts.ts, facts.info, facts.rss_bytes)]
    rdb = predict_kind(points, facts, RDB)
    predictions = {"rdb": rdb}
    if _int(facts.info, "aof_enabled") == 1 or _int(facts.info, "aof_rewrites"):
        predictions["aof"] = predict_kind(points, facts, AOF)
    if (_int(facts.info, "connected_slaves") or 0) > 0:
        predictions["full_sync"] = _full_sync(rdb)
    kinds = {name: p.bytes for name, p in predictions.items()}
    best = max(predictions.values(), key=lambda p: p.bytes)
    return CowPrediction(
        best.kind, best.bytes, best.estimated, best.saves_observed, best.source,
        best.reasons, best.write_rate, best.seconds, kinds,
    )  # fmt: skip


def _full_sync(rdb: CowPrediction) -> CowPrediction:
    note = "full sync: the primary forks an RDB child, same model as BGSAVE"
    return CowPrediction(
        "full_sync", rdb.bytes, rdb.estimated, rdb.saves_observed, rdb.source,
        (note, *rdb.reasons), rdb.write_rate, rdb.seconds,
    )  # fmt: skip


def predict_kind(points: Sequence[Point], facts: CowFacts, kind: ForkKind) -> CowPrediction:
    """The expected COW of the next child of ``kind`` from the normalised series."""
    all_own = series.observations(points, kind)
    all_other = series.observations(points, AOF if kind is RDB else RDB)
    seen = len(all_own) + len(all_other)
    own, other = all_own[-RECENT_SAVES:], all_other[-RECENT_SAVES:]
    pooled = own + other
    rate, rate_source = series.recent_rate(points, RATE_WINDOW_SECONDS)
    reasons: list[str] = []
    if rate is not None:
        reasons.append(f"write rate {rate:.0f}/s from {rate_source}")
    resident = facts.rss_bytes or _int(facts.info, "used_memory_rss") or 0
    runs = own or other
    seconds = next_seconds(runs, rate)
    if seconds is not None and facts.expected_seconds is not None:
        seconds = facts.expected_seconds
    if seconds is None or rate is None or resident <= 0:
        return _fallback(facts, kind, rate, reasons, seen)
    reasons.append(
        f"{kind.name} child expected to run {seconds:.1f} s "
        f"(from {len(runs[-6:])} recent {runs[0].kind} run(s))"
    )
    writes = rate * seconds
    keys = series.keys_of(points[-1])
    inserting = _inserting(points, rate)
    overwrites = (rate - inserting) * seconds
    base = _base(pooled)
    unit = _unit(facts)
    new_keys = inserts_copied(keys, inserting * seconds, unit)
    if inserting >= QUIET_RATE:
        reasons.append(
            f"{inserting:.0f} of them new keys/s (the key count grows): they copy only the key "
            f"table's buckets, {_mib(new_keys)}"
        )
    busy = [
        o for o in pooled
        if (o.overwrites or 0) >= OVERWRITE_SHARE * (o.writes or 0) > 0
        and _overwrite_copied(o, base, keys, unit) > 0
    ]  # fmt: skip
    window = used_window(facts.dirty, facts.dirty_note, rate, resident, seconds, reasons)
    if window is not None:
        source = "dirty_pages"
        copied = base + resident * (1 - math.exp(-window * writes / resident))
    elif busy:
        per_write, source = _interpolated(busy, overwrites, resident, base, keys, unit), "history"
        reasons.append(
            f"{per_write:.0f} B copied per write to an existing key, calibrated on {len(busy)} "
            "save(s) under such writes; saturating at RSS"
        )
        copied = base + new_keys + resident * (1 - math.exp(-per_write * overwrites / resident))
    else:
        source = "prior"
        copied = base + new_keys + _prior(points, facts, resident, reasons).copied(overwrites)
    if base:
        reasons.append(f"{_mib(base)} copied by saves without writes")
    floor_pool = _floor_pool(pooled, all_own + all_other, reasons)
    if rate < QUIET_RATE:
        floor_pool = []  # no writes: the quiet base is the prediction, not the largest quiet save
    if window is not None:
        floor_pool = same_pattern(floor_pool, window, resident, base)
    floor = _floors(floor_pool, writes, overwrites, resident, facts.info, kind, reasons)
    copied = max(copied, floor)
    estimated = seen < 2
    if estimated:
        reasons.append(f"estimated: {seen} save(s) observed, fewer than two")
    return CowPrediction(
        kind.name, int(copied), estimated, seen, source, tuple(reasons), rate, seconds
    )


def _inserting(points: Sequence[Point], rate: float) -> float:
    """New keys per second now: the write rate times the share of recent writes that added keys
    (all of it when the rest is within the counters' noise)."""
    share = series.recent_insert_share(points, RATE_WINDOW_SECONDS) or 0.0
    if share > 1 - COUNTER_NOISE:
        return rate  # two counters sampled apart: a few writes per hundred is their noise
    return rate * share


def _unit(facts: CowFacts) -> int:
    """The page a write copies: 2 MiB under transparent huge pages, else the host's page."""
    return HUGE_PAGE if facts.huge_pages else facts.page_size


def _int(info: Mapping[str, Any], name: str) -> int | None:
    try:
        return int(info[name])
    except (KeyError, TypeError, ValueError):
        return None


def _base(saves: Sequence[SaveObservation]) -> float:
    """What the last few saves made without writes copied: their median, the lower one of two
    (0 when none). The first save after a start may copy more than the rest (4.8 MiB, then
    0.8 MiB, on Redis 7.4.1)."""
    latest = sorted(
        (s for s in saves if s.write_rate is not None and s.write_rate < QUIET_RATE),
        key=lambda s: s.end_ts,
    )[-QUIET_BASE_SAVES:]
    quiet = sorted(s.cow_bytes for s in latest)
    return float(quiet[(len(quiet) - 1) // 2]) if quiet else 0.0


def _overwrite_copied(save: SaveObservation, base: float, keys: int | None, unit: int) -> float:
    """What a save copied beyond its quiet base and its new keys' buckets."""
    return save.cow_bytes - base - inserts_copied(keys, save.inserts, unit)


def _per_write(
    save: SaveObservation, resident: int, base: float, keys: int | None, unit: int
) -> float:
    copied = _overwrite_copied(save, base, keys, unit)
    return unsaturated(copied, save.overwrites or 1.0, resident)


def _interpolated(
    busy: Sequence[SaveObservation],
    overwrites: float,
    resident: int,
    base: float,
    keys: int | None,
    unit: int,
) -> float:
    """Bytes per overwrite at ``overwrites``: interpolated (log scale) between observed saves."""
    known = sorted(
        (math.log(s.overwrites or 1.0), _per_write(s, resident, base, keys, unit)) for s in busy
    )
    here = math.log(max(overwrites, 1.0))
    if here <= known[0][0]:
        return known[0][1]
    if here >= known[-1][0]:
        return known[-1][1]
    for (x0, k0), (x1, k1) in pairwise(known):
        if x0 <= here <= x1:
            return k0 if x1 == x0 else k0 + (k1 - k0) * (here - x0) / (x1 - x0)
    return known[-1][1]


def _prior(
    points: Sequence[Point], facts: CowFacts, resident: int, reasons: list[str]
) -> WritePools:
    """Where writes land with no busy save seen: a key index and the data (see
    ``janitor.domain.cow_prior``), payload pages beyond one per write, huge pages under THP."""
    last, first = points[-1], points[0]
    commands = (last.number("total_commands_processed") or 0) - (
        first.number("total_commands_processed") or 0
    )
    net = (last.number("total_net_input_bytes") or 0) - (first.number("total_net_input_bytes") or 0)
    payload = 0.0
    if commands > 0 and net > 0:
        payload = max(0.0, net / commands - facts.page_size) / facts.page_size
    pools = write_pools(resident, series.keys_of(last), _unit(facts), payload)
    reasons.append(pools.describe())
    if facts.huge_pages:
        why = "disable-thp no" if facts.disable_thp is False else "disable-thp unknown"
        reasons.append(f"transparent huge pages: THP always and {why}")
    return pools


def _floor_pool(
    recent: Sequence[SaveObservation], every: Sequence[SaveObservation], reasons: list[str]
) -> Sequence[SaveObservation]:
    """The saves whose COW the prediction may not go under: the recent ones while writes go on;
    after a quiet save, every save in the history. The recent calibration says how the writes of
    the last busy spell landed; after a pause the next writes may land differently (other keys,
    another pattern), so what any save under similar writes copied bounds the prediction."""
    latest = max(every, key=lambda o: o.end_ts, default=None)
    if latest is None or latest.write_rate is None or latest.write_rate >= QUIET_RATE:
        return recent
    if len(every) > len(recent):
        reasons.append("the last save was quiet: floors from every save in the history")
    return every


def _floors(
    pooled: Sequence[SaveObservation],
    writes: float,
    overwrites: float,
    resident: int,
    info: Mapping[str, Any],
    kind: ForkKind,
    reasons: list[str],
) -> float:
    """What a save under similar or fewer writes (at most ``SIMILAR`` x, and as few writes to
    existing keys, give or take a tenth of the writes) really copied, at most the resident set
    now, and the running child's peak."""
    floor = 0.0
    lighter = [
        o for o in pooled
        if o.writes is not None and o.writes <= writes * SIMILAR
        and (o.overwrites or 0) <= (overwrites + 0.1 * writes) * SIMILAR
    ]  # fmt: skip
    if lighter:
        heaviest = max(lighter, key=lambda o: o.cow_bytes)
        floor = float(min(heaviest.cow_bytes, resident))
        reasons.append(
            f"not below {_mib(floor)}: copied by a save under {heaviest.writes or 0:.0f} writes "
            f"(expected now {writes:.0f})"
        )
    if _int(info, kind.in_progress) == 1:
        running = max(_int(info, "current_cow_peak") or 0, _int(info, "current_cow_size") or 0)
        if running > floor:
            floor = float(running)
            reasons.append(f"not below {_mib(running)}: the running child's COW so far")
    return floor


def _fallback(
    facts: CowFacts, kind: ForkKind, rate: float | None, reasons: list[str], seen: int
) -> CowPrediction:
    """No usable history: INFO's last COW figures, else cow_fraction x RSS; the prior floor."""
    info = facts.info
    if facts.dirty is not None or facts.dirty_note:
        why = "not used before a save was observed" if facts.dirty else facts.dirty_note
        reasons.append(f"dirty-page window: {why}")
    names = ("rdb_last_cow_size", "aof_last_cow_size", "current_cow_peak")
    last = max((_int(info, name) or 0 for name in names), default=0)
    if last:
        copied, source = float(last), "last_cow"
        reasons.append(f"largest of {', '.join(names)}: {_mib(last)}")
    else:
        copied, source = facts.rss_bytes * facts.cow_fraction, "rss_fraction"
        reasons.append(f"never forked: {facts.cow_fraction:g} x RSS")
    seconds = series.seconds_of(kind, Point(facts.ts, info)) or series.seconds_of(
        RDB, Point(facts.ts, info)
    )
    if rate and seconds and facts.rss_bytes > 0 and source == "last_cow":
        pools = _prior([Point(facts.ts, info)], facts, facts.rss_bytes, reasons)
        prior = pools.copied(rate * seconds)
        if prior > copied:
            copied, source = prior, "prior"
            reasons.append(f"writes now, over a {seconds:.0f} s save: at least {_mib(prior)}")
    reasons.append(f"estimated: {seen} save(s) observed, fewer than two")
    return CowPrediction(kind.name, int(copied), True, seen, source, tuple(reasons), rate, seconds)
