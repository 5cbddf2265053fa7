"""Keep the scan's share of Redis's main thread under a budget (pure: readings in, pacing out).

The scanner reads the server's CPU time (``INFO cpu``) and a monotonic clock around every probe
batch and asks this controller how long to wait before the next batch and how many keys to ask
SCAN for. The server also works for other clients, so the scan's own cost is what the batch
window used beyond the background rate seen in the pauses between batches.

Pacing is a virtual schedule: every batch books ``cost / budget`` seconds from its start, so the
scan's share over any run of batches is the budget; a scan slower than its budget (the client
is the bottleneck) is never paused and never builds up credit for a later burst.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MAIN_THREAD_FIELDS = ("used_cpu_sys_main_thread", "used_cpu_user_main_thread")
_PROCESS_FIELDS = ("used_cpu_sys", "used_cpu_user")


def server_cpu_seconds(info_cpu: Mapping[str, Any]) -> float:
    """Return the CPU seconds Redis's main thread used so far (whole process on Redis < 6.2)."""
    fields = _MAIN_THREAD_FIELDS if _MAIN_THREAD_FIELDS[0] in info_cpu else _PROCESS_FIELDS
    return sum(float(info_cpu[name]) for name in fields)


@dataclass
class _Window:
    started_at: float
    cpu_at_start: float


class CpuBudgetController:
    """Decides the SCAN COUNT and the pause before each batch for a server-CPU ``budget``.

    ``budget`` is a fraction of one core (Redis's main thread): 0.10 lets the scan use 10 %.
    ``cycle_seconds`` is how often the scan should come back to the server: the batch size is
    chosen so that one batch costs about ``budget * cycle_seconds`` of server CPU, within
    ``min_count``..``max_count`` keys.
    """

    def __init__(
        self,
        budget: float,
        max_count: int,
        min_count: int = 10,
        cycle_seconds: float = 0.05,
        smoothing: float = 0.3,
    ) -> None:
        if not 0 < budget <= 1:
            raise ValueError("budget must be a fraction in (0, 1]")
        self.budget = budget
        self._min_count = max(1, min(min_count, max_count))
        self._max_count = max_count
        self._cycle_seconds = cycle_seconds
        self._smoothing = smoothing
        self._cost_per_key: float | None = None
        self._background_rate = 0.0
        self._schedule: float | None = None
        self._window: _Window | None = None
        self._last_end: tuple[float, float] | None = None
        self.count = min(max_count, max(self._min_count, 100))
        self.scan_cpu_seconds = 0.0

    def delay(self, now: float) -> float:
        """Return how many seconds to wait before starting the next batch."""
        if self._schedule is None:
            return 0.0
        return max(0.0, self._schedule - now)

    def batch_started(self, now: float, cpu_seconds: float) -> None:
        """Record the clock and the server's CPU time just before a batch is sent."""
        if self._last_end is not None:
            ended_at, cpu_at_end = self._last_end
            idle = now - ended_at
            if idle > 0.001:
                rate = max(0.0, (cpu_seconds - cpu_at_end) / idle)
                self._background_rate = self._blend(self._background_rate, rate)
        self._window = _Window(now, cpu_seconds)

    def batch_finished(self, now: float, cpu_seconds: float, keys: int) -> None:
        """Record the clock and CPU time once the batch's replies are in; plan the next one."""
        window = self._window
        if window is None:
            raise RuntimeError("batch_finished without batch_started")
        elapsed = max(0.0, now - window.started_at)
        cost = cpu_seconds - window.cpu_at_start - self._background_rate * elapsed
        cost = max(0.0, cost)
        self.scan_cpu_seconds += cost
        if keys > 0:
            per_key = cost / keys
            self._cost_per_key = (
                per_key if self._cost_per_key is None else self._blend(self._cost_per_key, per_key)
            )
        start = window.started_at
        if self._schedule is not None:
            start = max(start, self._schedule)
        self._schedule = start + cost / self.budget
        self._last_end = (now, cpu_seconds)
        self._window = None
        self.count = self._next_count()

    def _next_count(self) -> int:
        if not self._cost_per_key:
            return self._max_count
        wanted = self.budget * self._cycle_seconds / self._cost_per_key
        return int(min(self._max_count, max(self._min_count, wanted)))

    def _blend(self, old: float, new: float) -> float:
        return old + self._smoothing * (new - old)
