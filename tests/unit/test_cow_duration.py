"""How long the next fork child runs: a line through the recent runs, whole seconds allowed."""

from __future__ import annotations

import pytest

from janitor.domain.cow_duration import next_seconds, slowdown
from janitor.domain.cow_series import SaveObservation


def run(seconds: float, rate: float) -> SaveObservation:
    return SaveObservation("rdb", 0.0, seconds, 1 << 20, rate)


def test_no_runs_no_duration() -> None:
    assert next_seconds([], 100.0) is None


def test_a_slope_within_one_whole_second_is_noise() -> None:
    """Reported 2, 2, 2, 3 s at 0 and 5k writes/s (a quiet host's 2-3 s saves): no evidence that
    writes slow the save, so 20k writes/s is not expected to take twice as long."""
    runs = [run(2, 0), run(2, 0), run(2, 5_000), run(3, 5_000)]
    assert next_seconds(runs, 20_000) == pytest.approx(2.25)


def test_a_clear_slope_is_followed() -> None:
    runs = [run(10, 0), run(10, 0), run(20, 5_000), run(20, 5_000)]
    assert next_seconds(runs, 10_000) == pytest.approx(30.0)


def test_a_slower_last_run_scales_up_beyond_a_whole_second() -> None:
    assert slowdown(3, 2) == 1.0  # one whole second: maybe not slower at all
    assert slowdown(31, 21) == pytest.approx(30 / 21)
    runs = [run(20, 5_000)] * 5 + [run(31, 5_000)]
    assert next_seconds(runs, 5_000) == pytest.approx(30.0)  # the line (21.8 s) x 30 / 21.8


def test_a_faster_last_run_lowers_by_the_square_root_only() -> None:
    assert slowdown(1, 2) == 1.0
    assert slowdown(7, 16) == pytest.approx((8 / 16) ** 0.5)
    assert slowdown(5, 0) == 1.0


def test_never_shorter_than_the_slowest_recent_run_less_a_second() -> None:
    """A host that took 30 s lately may again, though the last five took 10 s."""
    runs = [run(30, 5_000)] + [run(10, 5_000)] * 5
    assert next_seconds(runs, 5_000) == pytest.approx(29.0)
    assert next_seconds([run(3, 0), run(2, 0)], 0) == pytest.approx(2.5)  # within the second
