"""The COW model on small hand-written series (the recorded bench runs are in test_cow_recorded)."""

from __future__ import annotations

from typing import Any

import pytest

from janitor.domain.cow_model import CowFacts, CowPrediction, predict_cow
from janitor.domain.cow_series import RDB, observations, points

MIB = 1 << 20
RSS = 800 * MIB


class Series:
    """Builds history samples of one instance, one INFO snapshot per call."""

    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []
        self.ts, self.changes, self.saves, self.cow, self.seconds = 1000.0, 0, 0, 0, -1
        self.saved_at = 0

    def info(self, in_progress: int = 0, **extra: Any) -> dict[str, Any]:
        return {
            "rdb_changes_since_last_save": self.changes, "rdb_saves": self.saves,
            "rdb_bgsave_in_progress": in_progress, "rdb_last_cow_size": self.cow,
            "rdb_last_bgsave_time_sec": self.seconds, "rdb_last_bgsave_status": "ok",
            "total_commands_processed": self.changes * 2, "rdb_last_save_time": self.saved_at,
            "total_net_input_bytes": self.changes * 450, **extra,
        }  # fmt: skip

    def add(self, **extra: Any) -> None:
        self.samples.append({"ts": self.ts, "rss": RSS, "info": self.info(**extra)})

    def idle(self, seconds: float, rate: float, step: float = 2.0) -> None:
        """Samples every ``step`` seconds while ``rate`` writes per second happen."""
        elapsed = 0.0
        while elapsed < seconds:
            self.ts += step
            self.changes += int(rate * step)
            elapsed += step
            self.add()

    def save(self, seconds: int, rate: float, cow: int) -> None:
        """A BGSAVE of ``seconds`` under ``rate`` writes/s that copied ``cow`` bytes."""
        self.saves += 1
        self.ts += 0.5
        self.add(in_progress=1)
        self.ts += seconds
        self.changes = int(rate * (seconds + 0.5))
        self.cow, self.seconds, self.saved_at = cow, seconds, int(self.ts)
        self.add()

    def facts(self, rate: float, **options: Any) -> CowFacts:
        """Facts 2 s after the last sample, ``rate`` writes/s meanwhile."""
        info = self.info(**options.pop("info", {}))
        info["rdb_changes_since_last_save"] = self.changes + int(rate * 2)
        return CowFacts(info=info, ts=self.ts + 2, rss_bytes=RSS, **options)


def quiet_then(rate: float, **options: Any) -> CowPrediction:
    series = Series()
    series.idle(10, 0)
    series.save(3, 0, int(0.6 * MIB))
    series.idle(10, rate)
    return predict_cow(series.samples, series.facts(rate, **options))


def test_a_quiet_save_does_not_predict_zero_while_writes_happen() -> None:
    quiet = quiet_then(0)
    busy = quiet_then(10_000)
    assert quiet.bytes < 2 * MIB
    assert busy.bytes > 100 * MIB
    assert busy.source == "prior"
    assert busy.estimated is True and busy.saves_observed == 1
    assert any("rdb_changes_since_last_save" in reason for reason in busy.reasons)


def test_transparent_huge_pages_multiply_the_prior_unless_redis_opts_out() -> None:
    small = quiet_then(100)
    huge = quiet_then(100, thp_enabled="always", disable_thp=False)
    opted_out = quiet_then(100, thp_enabled="always", disable_thp=True)
    madvise = quiet_then(100, thp_enabled="madvise", disable_thp=False)
    assert huge.bytes > 50 * small.bytes
    assert opted_out.bytes == madvise.bytes == small.bytes
    assert any("transparent huge pages" in reason for reason in huge.reasons)


def test_two_quiet_saves_predict_what_they_copied() -> None:
    series = Series()
    series.idle(6, 0)
    series.save(3, 0, int(0.6 * MIB))
    series.idle(6, 0)
    series.save(3, 0, int(0.7 * MIB))
    series.idle(6, 0)
    prediction = predict_cow(series.samples, series.facts(0))
    assert prediction.estimated is False and prediction.saves_observed == 2
    assert int(0.6 * MIB) <= prediction.bytes <= 0.7 * MIB


def busy_history() -> Series:
    series = Series()
    series.idle(6, 0)
    series.save(3, 0, int(0.6 * MIB))
    series.idle(10, 5_000)
    series.save(6, 5_000, 200 * MIB)
    series.idle(10, 5_000)
    return series


def test_calibrated_on_a_busy_save_and_never_below_it_at_a_similar_rate() -> None:
    series = busy_history()
    same = predict_cow(series.samples, series.facts(5_000))
    slower = predict_cow(series.samples, series.facts(4_500))
    faster = predict_cow(series.samples, series.facts(15_000))
    assert same.source == "history" and same.estimated is False
    assert 200 * MIB <= same.bytes <= 1.1 * 200 * MIB
    assert slower.bytes >= 200 * MIB
    assert same.bytes < faster.bytes <= RSS


def scattered_then_sequential() -> Series:
    """A busy save of scattered writes (200 MiB), then seven of sequential ones (60 MiB) at the
    same rate: the scattered one is older than the recent saves the calibration uses."""
    series = busy_history()
    for _ in range(7):
        series.save(6, 5_000, 60 * MIB)
        series.idle(10, 5_000)
    return series


def test_while_writes_go_on_the_recent_saves_set_the_prediction() -> None:
    series = scattered_then_sequential()
    prediction = predict_cow(series.samples, series.facts(5_000))
    assert 60 * MIB <= prediction.bytes <= 1.1 * 60 * MIB


def test_after_a_quiet_save_no_save_under_similar_writes_is_forgotten() -> None:
    series = scattered_then_sequential()
    series.save(6, 0, int(0.6 * MIB))
    series.idle(10, 5_000)
    prediction = predict_cow(series.samples, series.facts(5_000))
    assert prediction.bytes >= 200 * MIB
    assert any("every save in the history" in reason for reason in prediction.reasons)
    assert any("not below 200.0 MiB" in reason for reason in prediction.reasons)


def test_the_running_child_peak_is_a_floor() -> None:
    series = busy_history()
    info = {"rdb_bgsave_in_progress": 1, "current_cow_peak": 500 * MIB, "current_cow_size": 1}
    prediction = predict_cow(series.samples, series.facts(5_000, info=info))
    assert prediction.bytes == 500 * MIB
    assert any("running child" in reason for reason in prediction.reasons)


def test_without_history_the_fallback_order_stays() -> None:
    info = {"rdb_last_cow_size": 5 * MIB, "aof_last_cow_size": 7 * MIB, "current_cow_peak": 0}
    last = predict_cow([], CowFacts(info=info, ts=100.0, rss_bytes=RSS))
    never = predict_cow([], CowFacts(info={}, ts=100.0, rss_bytes=RSS, cow_fraction=0.25))
    assert (last.bytes, last.source, last.guessed, last.estimated) == (
        7 * MIB,
        "last_cow",
        False,
        True,
    )
    assert (never.bytes, never.source, never.guessed) == (RSS // 4, "rss_fraction", True)


def test_without_history_writes_since_the_last_save_raise_a_quiet_cow() -> None:
    info = {
        "rdb_last_cow_size": int(0.6 * MIB), "rdb_changes_since_last_save": 100_000,
        "rdb_last_save_time": 90, "rdb_last_bgsave_time_sec": 3,
    }  # fmt: skip
    prediction = predict_cow([], CowFacts(info=info, ts=100.0, rss_bytes=RSS))
    assert prediction.source == "prior"
    assert prediction.bytes > 100 * MIB
    assert prediction.write_rate == 100_000 / 13  # counted from the fork, 3 s before the end
    just_saved = predict_cow([], CowFacts(info=info, ts=92.0, rss_bytes=RSS))
    assert (just_saved.source, just_saved.bytes) == ("last_cow", int(0.6 * MIB))


def test_aof_rewrite_and_full_sync_are_predicted_when_they_can_happen() -> None:
    series = busy_history()
    info = {"aof_enabled": 1, "connected_slaves": 1}
    prediction = predict_cow(series.samples, series.facts(5_000, info=info))
    assert set(prediction.kinds) == {"rdb", "aof", "full_sync"}
    assert prediction.kinds["aof"] == prediction.kinds["rdb"] == prediction.bytes
    alone = predict_cow(series.samples, series.facts(5_000))
    assert set(alone.kinds) == {"rdb"}
    assert prediction.to_dict()["kinds"] == dict(prediction.kinds)


def test_observations_carry_the_write_rate_while_the_child_ran() -> None:
    series = busy_history()
    saves = observations(points(series.samples), RDB)
    assert [s.cow_bytes for s in saves] == [int(0.6 * MIB), 200 * MIB]
    assert saves[0].write_rate is not None and saves[0].write_rate < 1
    assert saves[1].write_rate is not None and 4_000 < saves[1].write_rate < 6_000
    assert saves[1].seconds == 6


def test_samples_without_time_or_info_are_ignored() -> None:
    assert points([{"ts": 1.0}, {"info": {}}, {"ts": "x", "info": {}}]) == []


def test_an_aof_rewrite_is_predicted_from_its_own_runs_and_the_shared_calibration() -> None:
    series = busy_history()
    aof = {"aof_enabled": 1, "aof_rewrites": 0, "aof_rewrite_in_progress": 0}
    series.samples[-1]["info"].update(aof)
    series.ts += 1
    series.add(**{**aof, "aof_rewrite_in_progress": 1})
    series.ts += 12
    done = {**aof, "aof_rewrites": 1, "aof_last_cow_size": 300 * MIB}
    series.add(**{**done, "aof_last_rewrite_time_sec": 12})
    series.idle(4, 5_000)
    for sample in series.samples[-2:]:
        sample["info"].update({**done, "aof_last_rewrite_time_sec": 12})
    info = {**done, "aof_last_rewrite_time_sec": 12}
    prediction = predict_cow(series.samples, series.facts(5_000, info=info))
    assert prediction.kind == "aof"
    assert prediction.kinds["aof"] > prediction.kinds["rdb"]
    assert prediction.kinds["aof"] >= 300 * MIB
    assert any("aof child expected to run 12.0 s" in reason for reason in prediction.reasons)


def test_the_key_count_growth_is_the_insert_rate() -> None:
    from janitor.domain.cow_series import KeyCounts, Point, keys_of

    series = [
        Point(0.0, {"keys": 1000}),
        Point(2.0, {"db0": {"keys": 1500, "expires": 0}, "db1": {"keys": 100}}),
        Point(4.0, {"keys": 2600}),
        Point(6.0, {"keys": 2000}),
    ]
    assert keys_of(series[1]) == 1600
    assert keys_of(Point(0.0, {"rdb_saves": 1})) is None
    counts = KeyCounts.of(series)
    assert counts.insert_rate(0.0, 4.0) == pytest.approx(400.0)
    assert counts.insert_rate(1.0, 3.0) == pytest.approx(400.0)  # the samples around it
    assert counts.insert_rate(4.0, 6.0) == 0.0  # shrinking: deletes hide any inserts
    assert counts.insert_rate(-5.0, 20.0) == pytest.approx(1000 / 6)  # clipped to the series
    assert KeyCounts.of(series[:1]).insert_rate(0.0, 4.0) is None


def test_a_save_splits_its_writes_into_inserts_and_overwrites() -> None:
    from janitor.domain.cow_series import SaveObservation

    save = SaveObservation("rdb", 0.0, 10.0, MIB, write_rate=1000.0, insert_rate=300.0)
    assert (save.writes, save.inserts, save.overwrites) == (10_000, 3_000, 7_000)
    unknown = SaveObservation("rdb", 0.0, 10.0, MIB, write_rate=1000.0)
    assert (unknown.inserts, unknown.overwrites) == (0.0, 10_000)
    noisy = SaveObservation("rdb", 0.0, 10.0, MIB, write_rate=1000.0, insert_rate=1010.0)
    assert noisy.overwrites == 0.0


def test_the_insert_share_skips_writes_inferred_across_a_save_end() -> None:
    """1000 new keys/s and nothing else: 100 % inserts, though the interval across the save's end
    infers its writes from whole-second save times (and may count 5 % more)."""
    from janitor.domain.cow_series import Point, intervals, recent_insert_share

    def point(ts: float, changes: int, keys: int, saving: int, saves: int) -> Point:
        info = {
            "rdb_changes_since_last_save": changes, "keys": keys, "rdb_saves": saves,
            "rdb_bgsave_in_progress": saving, "rdb_last_bgsave_time_sec": 2,
        }  # fmt: skip
        return Point(ts, info)

    series = [
        point(0.0, 10_000, 100_000, 0, 1),
        point(2.0, 12_000, 102_000, 1, 1),
        point(4.0, 14_000, 104_000, 1, 1),
        point(6.0, 4_100, 106_000, 0, 2),  # the save ended: changes since its fork
    ]
    found = intervals(series)
    assert [i.estimated for i in found] == [False, False, True]
    assert recent_insert_share(series, 5.0) == pytest.approx(1.0)
    overwrites = [Point(p.ts, {**p.info, "keys": 100_000}) for p in series]
    assert recent_insert_share(overwrites, 5.0) == 0.0
    assert recent_insert_share([Point(0.0, {"keys": 1})], 5.0) is None


def test_the_rate_between_two_times_weighs_the_intervals_that_overlap_them() -> None:
    from janitor.domain.cow_series import Interval, rate_between

    found = [Interval(0, 10, 100, "x"), Interval(10, 20, 300, "x"), Interval(20, 30, 0, "x")]
    assert rate_between(found, 5, 15) == pytest.approx(20.0)  # 5 s at 10/s, 5 s at 30/s
    assert rate_between(found, 10, 20) == pytest.approx(30.0)
    assert rate_between(found, 25, 40) == pytest.approx(0.0)
    assert rate_between(found, 30, 40) is None
    assert rate_between([], 0, 1) is None
