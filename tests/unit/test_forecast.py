"""Forecast on synthetic headroom series: steady growth, flat, noisy, a cleanup step."""

from __future__ import annotations

import random

import pytest

from janitor.domain.forecast import (
    Forecast,
    ForecastPolicy,
    Point,
    forecast,
    seconds_bought,
    step_indices,
)

MIB = 1024**2
HOUR = 3600.0
STEP = 900.0  # a sample every 15 minutes
POLICY = ForecastPolicy(margin_bytes=200 * MIB, window_seconds=7 * 86400, min_samples=4)


def series(
    hours: float, start: float, rate_per_hour: float, noise: float = 0.0, seed: int = 1
) -> list[Point]:
    """Headroom sampled every 15 minutes for ``hours``, shrinking by ``rate_per_hour``."""
    rng = random.Random(seed)
    count = int(hours * HOUR / STEP)
    return [
        Point(i * STEP, start - rate_per_hour * i * STEP / HOUR + rng.gauss(0, noise))
        for i in range(count + 1)
    ]


def within(
    result: Forecast, true_warn: float, true_critical: float, tolerance: float = 0.2
) -> None:
    assert result.status == "shrinking", result
    assert result.seconds_to_warn is not None and result.seconds_to_critical is not None
    assert abs(result.seconds_to_critical - true_critical) <= tolerance * true_critical
    assert abs(result.seconds_to_warn - true_warn) <= tolerance * true_warn


def test_steady_growth_forecasts_the_crossing_times() -> None:
    points = series(24, 4096 * MIB, 120 * MIB)
    now = points[-1].ts
    level = 4096 * MIB - 120 * MIB * 24
    result = forecast(points, POLICY, now)
    within(result, (level - 200 * MIB) / (120 * MIB) * HOUR, level / (120 * MIB) * HOUR, 0.01)
    assert result.samples == len(points)
    assert result.span_seconds == pytest.approx(24 * HOUR)


def test_noisy_growth_stays_within_twenty_percent() -> None:
    for seed in range(20):
        points = series(24, 4096 * MIB, 120 * MIB, noise=60 * MIB, seed=seed)
        level = 4096 * MIB - 120 * MIB * 24
        result = forecast(points, POLICY, points[-1].ts)
        within(result, (level - 200 * MIB) / (120 * MIB) * HOUR, level / (120 * MIB) * HOUR)


def test_flat_series_does_not_forecast_a_crossing() -> None:
    points = series(24, 2048 * MIB, 0.0, noise=20 * MIB, seed=3)
    result = forecast(points, POLICY, points[-1].ts)
    assert result.status == "not_shrinking"
    assert result.seconds_to_critical is None and result.seconds_to_warn is None


def test_a_cleanup_step_is_not_a_trend() -> None:
    before = series(12, 3000 * MIB, 100 * MIB)
    jump = 1500 * MIB
    after = [
        Point(p.ts + 12 * HOUR + STEP, p.headroom - 1200 * MIB + jump - 100 * MIB * STEP / HOUR)
        for p in series(6, 3000 * MIB, 100 * MIB)
    ]
    points = before + after
    assert step_indices(points) == [len(before)]
    now = points[-1].ts
    level = after[-1].headroom
    result = forecast(points, POLICY, now)
    within(result, (level - 200 * MIB) / (100 * MIB) * HOUR, level / (100 * MIB) * HOUR, 0.02)
    assert result.basis == "since the last cleanup"
    assert result.last_step_at == after[0].ts


def test_right_after_a_cleanup_the_earlier_rate_is_used() -> None:
    points = series(12, 3000 * MIB, 100 * MIB)
    cleaned = Point(points[-1].ts + STEP, 2500 * MIB, cleanup=True)
    result = forecast([*points, cleaned], POLICY, cleaned.ts)
    within(result, 2300 / 100 * HOUR, 2500 / 100 * HOUR, 0.02)
    assert result.basis == "pairs within each segment between cleanups"


def test_not_enough_data() -> None:
    points = series(0.5, 3000 * MIB, 100 * MIB)
    result = forecast(points[:3], POLICY, points[2].ts)
    assert result.status == "not_enough_data"
    assert result.samples == 3
    assert forecast([], POLICY, 0.0).status == "not_enough_data"


def test_already_below_the_margin_warns_now() -> None:
    points = series(6, 300 * MIB, 40 * MIB)
    result = forecast(points, POLICY, points[-1].ts)
    assert result.seconds_to_warn == 0.0
    assert result.seconds_to_critical is not None and result.seconds_to_critical > 0


def test_seconds_bought_by_a_cleanup() -> None:
    points = series(24, 4096 * MIB, 120 * MIB)
    before = forecast(points, POLICY, points[-1].ts)
    assert before.headroom_bytes is not None
    bought = seconds_bought(before, before.headroom_bytes + 360 * MIB)
    assert bought == pytest.approx(3 * HOUR, rel=0.01)
    flat = forecast(series(24, 2048 * MIB, 0.0), POLICY, 24 * HOUR)
    assert seconds_bought(flat, 4096 * MIB) is None
