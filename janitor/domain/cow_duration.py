"""How long the next fork child will run, from the recent runs and the write rate now (pure).

A loaded host saves slower: a least-squares line through (write rate, duration) of the recent
runs, scaled by how much slower than that line the last run was, never under the slowest recent
run (less a second). See docs/domain.md §5
(copy-on-write of a save, measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from janitor.domain.cow_series import SaveObservation

QUIET_RATE = 1.0
RECENT_RUNS = 6
RESOLUTION_SECONDS = 1.0
"""INFO's durations are differences of whole-second clocks: a reported 2 s ran 1 to 3 s."""


def next_seconds(saves: Sequence[SaveObservation], rate: float | None) -> float | None:
    """The next run's duration: a line through (write rate, duration) of the recent runs (a
    loaded host saves slower), scaled by how much slower than that line the last run was (a busy
    host stays busy; a faster last run lowers it by the square root only), and never shorter
    than the slowest recent run less INFO's whole second (a host that was that slow lately may
    be again: other work on it comes and goes without a trace in INFO)."""
    if not saves:
        return None
    recent = list(saves[-RECENT_RUNS:])
    line = duration_line(recent)
    if rate is None or line is None:
        return sum(s.seconds for s in recent) / len(recent)
    last = recent[-1]
    expected = line(rate) * slowdown(last.seconds, line(last.write_rate or 0.0))
    slowest = max(s.seconds for s in recent) - RESOLUTION_SECONDS
    return max(expected, slowest)


def slowdown(seconds: float, expected: float) -> float:
    """How much slower than expected the last run was, beyond INFO's whole-second resolution (a
    run reported 3 s against 2 s expected may be no slower at all); a faster run counts by the
    square root only."""
    if expected <= 0:
        return 1.0
    if seconds > expected + RESOLUTION_SECONDS:
        return (seconds - RESOLUTION_SECONDS) / expected
    if seconds < expected - RESOLUTION_SECONDS:
        return math.sqrt((seconds + RESOLUTION_SECONDS) / expected)
    return 1.0


def duration_line(saves: Sequence[SaveObservation]) -> Callable[[float], float] | None:
    """Least squares duration = a + b x rate (b >= 0, never below the shortest run)."""
    rated = [s for s in saves if s.write_rate is not None]
    if not rated:
        return None
    xs = [s.write_rate or 0.0 for s in rated]
    x_mean = sum(xs) / len(xs)
    y_mean = sum(s.seconds for s in rated) / len(rated)
    spread = sum((x - x_mean) ** 2 for x in xs)
    slope = 0.0
    if spread > 0 and max(xs) >= 2 * max(min(xs), QUIET_RATE):
        covariance = sum(
            (x - x_mean) * (s.seconds - y_mean) for x, s in zip(xs, rated, strict=True)
        )
        slope = max(0.0, covariance / spread)
        if slope * (max(xs) - min(xs)) <= RESOLUTION_SECONDS:
            slope = 0.0  # within INFO's whole seconds: no evidence that writes slow the run
    shortest = min(s.seconds for s in rated)
    return lambda rate: max(shortest, y_mean + slope * (rate - x_mean))
