"""Forecast accuracy on synthetic headroom series: how far the predicted crossing times are off.

Series sampled every 15 minutes for 24 h (12 h + 6 h around a cleanup), headroom shrinking at a
known rate; the true times until the margin (200 MiB) and zero are known exactly. Prints the
relative error of ``seconds_to_warn`` and ``seconds_to_critical`` per scenario (noisy ones over
many seeds: median and worst), and how often a flat noisy series is wrongly called shrinking.

    .venv/bin/python bench/forecast_accuracy.py --seeds 200
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from janitor.domain.forecast import ForecastPolicy, Point, forecast  # noqa: E402

MIB = 1 << 20
HOUR = 3600.0
STEP = 900.0
MARGIN = 200 * MIB
POLICY = ForecastPolicy(margin_bytes=MARGIN, window_seconds=7 * 86400)


def shrinking(hours: float, start: float, rate: float, noise: float, rng: random.Random,
              t0: float = 0.0) -> list[Point]:  # fmt: skip
    """Samples every STEP of a headroom shrinking by ``rate`` bytes/hour plus Gaussian noise."""
    count = int(hours * HOUR / STEP)
    return [
        Point(t0 + i * STEP, start - rate * i * STEP / HOUR + rng.gauss(0, noise))
        for i in range(count + 1)
    ]


def errors(points: list[Point], true_level: float, rate: float) -> tuple[float, float] | None:
    """Relative errors (warn, critical) of the forecast at the last sample; None: no forecast."""
    result = forecast(points, POLICY, points[-1].ts)
    if not result.known or result.seconds_to_warn is None or result.seconds_to_critical is None:
        return None
    true_warn = (true_level - MARGIN) / rate * HOUR
    true_critical = true_level / rate * HOUR
    return (
        abs(result.seconds_to_warn - true_warn) / true_warn,
        abs(result.seconds_to_critical - true_critical) / true_critical,
    )


def least_squares_errors(points: list[Point], level: float, rate: float) -> float | None:
    """Reference: ordinary least squares over the whole window, no step handling (critical)."""
    n = len(points)
    mean_t = sum(p.ts for p in points) / n
    mean_h = sum(p.headroom for p in points) / n
    slope = sum((p.ts - mean_t) * (p.headroom - mean_h) for p in points) / sum(
        (p.ts - mean_t) ** 2 for p in points
    )
    if slope >= 0:
        return None
    fitted_now = mean_h + slope * (points[-1].ts - mean_t)
    true_critical = level / rate * HOUR
    return abs(fitted_now / -slope - true_critical) / true_critical


def reference(name: str, seeds: int, build: object) -> None:
    """The least-squares reference on the same series."""
    found = [least_squares_errors(*build(random.Random(seed))) for seed in range(seeds)]  # type: ignore[operator]
    errors_ = [e for e in found if e is not None]
    figures = (
        f"to_critical median {statistics.median(errors_):6.1%} worst {max(errors_):6.1%}"
        if errors_
        else "(the jump makes the whole-window slope positive: never shrinking)"
    )
    print(f"{name:44s} runs {seeds:4d}  no forecast {seeds - len(errors_):3d}  {figures}")


def scenario(name: str, seeds: int, build: object) -> None:
    """Run ``build(rng) -> (points, true_level, rate)`` over seeds; print the error figures."""
    warn, critical, missing = [], [], 0
    for seed in range(seeds):
        points, level, rate = build(random.Random(seed))  # type: ignore[operator]
        found = errors(points, level, rate)
        if found is None:
            missing += 1
            continue
        warn.append(found[0])
        critical.append(found[1])
    within = sum(1 for w, c in zip(warn, critical, strict=True) if w <= 0.2 and c <= 0.2)
    print(
        f"{name:44s} runs {seeds:4d}  no forecast {missing:3d}  "
        f"to_critical median {statistics.median(critical):6.1%} worst {max(critical):6.1%}  "
        f"to_warn median {statistics.median(warn):6.1%} worst {max(warn):6.1%}  "
        f"within ±20% {within}/{seeds}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    seeds = parser.parse_args().seeds
    rate, start = 120 * MIB, 4096 * MIB
    level = start - rate * 24

    def steady(rng: random.Random) -> tuple[list[Point], float, float]:
        return shrinking(24, start, rate, 0, rng), level, rate

    def noisy(sigma: float) -> object:
        return lambda rng: (shrinking(24, start, rate, sigma, rng), level, rate)

    def step(flagged: bool) -> object:
        def build(rng: random.Random) -> tuple[list[Point], float, float]:
            before = shrinking(12, 3000 * MIB, 100 * MIB, 30 * MIB, rng)
            after = shrinking(6, 3000 * MIB, 100 * MIB, 30 * MIB, rng, 12 * HOUR + STEP)
            after = [
                Point(p.ts, p.headroom + 1500 * MIB, flagged and i == 0)
                for i, p in enumerate(after)
            ]
            return before + after, 4500 * MIB - 600 * MIB, 100 * MIB

        return build

    def just_cleaned(rng: random.Random) -> tuple[list[Point], float, float]:
        before = shrinking(12, 3000 * MIB, 100 * MIB, 30 * MIB, rng)
        cleaned = Point(before[-1].ts + STEP, 2500 * MIB, cleanup=True)
        return [*before, cleaned], 2500 * MIB, 100 * MIB

    scenario("steady growth (no noise)", 1, steady)
    scenario("noisy growth, sigma 30 MiB (1/4 of an hour)", seeds, noisy(30 * MIB))
    scenario("noisy growth, sigma 60 MiB (1/2 of an hour)", seeds, noisy(60 * MIB))
    scenario("noisy growth, sigma 120 MiB (1 hour's rate)", seeds, noisy(120 * MIB))
    scenario("cleanup step 6 h ago (recorded), sigma 30 MiB", seeds, step(True))
    scenario("same, step found from the jump alone", seeds, step(False))
    reference("  reference: least squares, no step handling", seeds, step(False))
    scenario("cleanup just now (earlier rate), sigma 30 MiB", seeds, just_cleaned)
    flat_shrinking = 0
    for seed in range(seeds):
        flat = shrinking(24, 2048 * MIB, 0, 20 * MIB, random.Random(seed))
        result = forecast(flat, POLICY, flat[-1].ts)
        flat_shrinking += result.known and (result.seconds_to_critical or 0) < 30 * 86400
    print(f"{'flat, sigma 20 MiB: crossing forecast < 30 days':44s} runs {seeds:4d}  "
          f"false alarms {flat_shrinking}")  # fmt: skip


if __name__ == "__main__":
    main()
