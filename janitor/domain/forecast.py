"""When will the fork fail? A robust trend of the headroom and the time until it crosses limits.

Pure code. The trend is a Theil-Sen slope (the median of pairwise slopes: a few outliers do not
move it). A cleanup (a sample that freed memory, or a jump far outside the series' noise) is a
step, not a trend: the slope comes from the segment since the last step, or — when that segment
is still too short — from the pairs inside each segment of the window (never across a step).
The level "now" is fitted on the last segment, so right after a cleanup the forecast starts from
the new, higher headroom with the growth rate seen before.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from janitor.core.units import format_bytes, format_duration
from janitor.domain.history import Sample

MAD_TO_SIGMA = 1.4826
STEP_SIGMAS = 6.0
STEP_FLOOR_FRACTION = 0.01
"""A jump smaller than this share of the typical headroom is never a step (flat series)."""
MAX_POINTS = 240


@dataclass(frozen=True)
class ForecastPolicy:
    """How much data a forecast needs and how far back it looks."""

    margin_bytes: float = 0.0
    window_seconds: float = 7 * 86400.0
    min_samples: int = 4
    min_span_seconds: float = 600.0


@dataclass(frozen=True)
class Point:
    """One headroom figure at unix time ``ts``; ``cleanup`` when memory was freed just before."""

    ts: float
    headroom: float
    cleanup: bool = False


@dataclass(frozen=True)
class Forecast:
    """The trend and the times until the headroom reaches the margin (warn) and zero (critical).

    ``status``: ``shrinking`` (times known), ``not_shrinking`` (flat or growing: no crossing),
    ``not_enough_data``. ``samples``/``span_seconds``/``since`` say what the slope rests on.
    """

    status: str
    samples: int
    span_seconds: float
    since: float | None = None
    headroom_bytes: float | None = None
    slope_bytes_per_second: float | None = None
    seconds_to_warn: float | None = None
    seconds_to_critical: float | None = None
    last_step_at: float | None = None
    basis: str = ""

    @property
    def known(self) -> bool:
        """True when the crossing times are known."""
        return self.status == "shrinking"

    def to_dict(self) -> dict[str, Any]:
        """The ``forecast`` object of the JSON documents."""
        return asdict(self)


def points_from_samples(samples: Sequence[Sample]) -> list[Point]:
    """The headroom series of one instance's samples (samples without a headroom skipped)."""
    points = []
    for sample in samples:
        headroom = sample.headroom
        if headroom is not None:
            points.append(Point(sample.ts, float(headroom), sample.is_cleanup))
    return points


def theil_sen(points: Sequence[Point]) -> float | None:
    """Median of the pairwise slopes (bytes per second); None with fewer than two times."""
    slopes = [
        (b.headroom - a.headroom) / (b.ts - a.ts)
        for i, a in enumerate(points)
        for b in points[i + 1 :]
        if b.ts > a.ts
    ]
    return statistics.median(slopes) if slopes else None


def step_indices(points: Sequence[Point]) -> list[int]:
    """Indices ``i`` where a new level starts: a cleanup sample, or a jump from ``i - 1`` far
    outside the noise of the consecutive differences (after removing the median rate)."""
    if len(points) < 2:
        return []
    deltas = [(b.headroom - a.headroom, b.ts - a.ts) for a, b in itertools.pairwise(points)]
    rates = [dy / dt for dy, dt in deltas if dt > 0]
    rate = statistics.median(rates) if rates else 0.0
    residuals = [dy - rate * dt for dy, dt in deltas]
    centre = statistics.median(residuals)
    spread = MAD_TO_SIGMA * statistics.median(abs(r - centre) for r in residuals)
    typical = statistics.median(abs(p.headroom) for p in points)
    threshold = max(STEP_SIGMAS * spread, STEP_FLOOR_FRACTION * typical, 1.0)
    steps = []
    for index, residual in enumerate(residuals, start=1):
        if points[index].cleanup or abs(residual - centre) > threshold:
            steps.append(index)
    return steps


def forecast(points: Sequence[Point], policy: ForecastPolicy, now: float) -> Forecast:
    """Forecast from ``points`` (any order) as seen at ``now``."""
    window = sorted(
        (p for p in points if now - policy.window_seconds <= p.ts <= now), key=lambda p: p.ts
    )[-MAX_POINTS:]
    if not window:
        return Forecast("not_enough_data", 0, 0.0, basis="no samples in the window")
    steps = step_indices(window)
    last_step = steps[-1] if steps else 0
    segments = _segments(window, steps)
    current = segments[-1]
    if _enough(current, policy):
        used, basis = current, "since the last cleanup" if steps else "the whole window"
        slope = theil_sen(current)
    else:
        used = [p for segment in segments for p in segment if len(segment) >= 2]
        basis = "pairs within each segment between cleanups"
        slope = _pooled_slope(segments)
    span = used[-1].ts - used[0].ts if used else 0.0
    step_at = window[last_step].ts if steps else None
    if slope is None or not _enough(used, policy) or not _enough_pairs(segments, policy):
        return Forecast(
            "not_enough_data", len(used), span, used[0].ts if used else None,
            last_step_at=step_at,
            basis=f"needs {policy.min_samples} samples over "
            f"{policy.min_span_seconds:.0f}s between cleanups",
        )  # fmt: skip
    level = statistics.median(p.headroom + slope * (now - p.ts) for p in current)
    shrinking = slope < 0 and not _within_noise(used, slope, span)
    result = Forecast(
        "shrinking" if shrinking else "not_shrinking", len(used), span, used[0].ts, level, slope,
        last_step_at=step_at, basis=basis,
    )  # fmt: skip
    if not shrinking:
        return result
    to_warn = max(0.0, (level - policy.margin_bytes) / -slope)
    to_critical = max(0.0, level / -slope)
    return Forecast(
        **{**asdict(result), "seconds_to_warn": to_warn, "seconds_to_critical": to_critical}
    )


def seconds_bought(before: Forecast, after_headroom_bytes: float) -> float | None:
    """How much later the fork fails thanks to a cleanup: the headroom it added over the rate
    the headroom was shrinking at before it (None when that rate is unknown or not shrinking)."""
    if not before.known or before.slope_bytes_per_second is None or before.headroom_bytes is None:
        return None
    return (after_headroom_bytes - before.headroom_bytes) / -before.slope_bytes_per_second


def _segments(points: Sequence[Point], steps: Sequence[int]) -> list[list[Point]]:
    bounds = [0, *steps, len(points)]
    return [list(points[a:b]) for a, b in itertools.pairwise(bounds) if b > a]


def _enough(points: Sequence[Point], policy: ForecastPolicy) -> bool:
    if len(points) < max(2, policy.min_samples):
        return False
    return points[-1].ts - points[0].ts >= policy.min_span_seconds


def _enough_pairs(segments: Sequence[Sequence[Point]], policy: ForecastPolicy) -> bool:
    """Pooled segments must hold at least ``min_samples - 1`` consecutive differences."""
    return sum(max(0, len(s) - 1) for s in segments) >= max(1, policy.min_samples - 1)


def _pooled_slope(segments: Sequence[Sequence[Point]]) -> float | None:
    slopes = [
        (b.headroom - a.headroom) / (b.ts - a.ts)
        for segment in segments
        for i, a in enumerate(segment)
        for b in segment[i + 1 :]
        if b.ts > a.ts
    ]
    return statistics.median(slopes) if slopes else None


def _within_noise(points: Sequence[Point], slope: float, span: float) -> bool:
    """True when the trend's whole change over ``span`` is smaller than the scatter around it."""
    if len(points) < 3:
        return False
    residuals = [p.headroom - slope * p.ts for p in points]
    centre = statistics.median(residuals)
    scatter = MAD_TO_SIGMA * statistics.median(abs(r - centre) for r in residuals)
    return abs(slope) * span < scatter


def describe(result: Forecast) -> str:
    """One line for people: when the fork fails at which rate, or why nothing is known."""
    based = f"{result.samples} samples over {format_duration(result.span_seconds)}"
    if result.status == "not_enough_data":
        return f"forecast: not enough history yet ({based}; {result.basis})"
    rate = (result.slope_bytes_per_second or 0.0) * 3600
    if not result.known:
        return f"forecast: headroom not shrinking ({format_bytes(rate)}/h, {based})"
    to_warn, to_critical = result.seconds_to_warn or 0.0, result.seconds_to_critical or 0.0
    warn = "below the margin now" if to_warn <= 0 else f"margin in about {about(to_warn)}"
    return (
        f"forecast: fork will fail in about {about(to_critical)}, {warn} "
        f"(headroom {format_bytes(rate)}/h, {based}, {result.basis})"
    )


def about(seconds: float) -> str:
    """A rounded duration for people: ``45 min``, ``9 h``, ``3 days``."""
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"
