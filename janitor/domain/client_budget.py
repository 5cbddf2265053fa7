"""A host-wide budget for the janitor's own CPU while it scans several instances at once. Pure.

Each instance's scan is paced by its Redis's main thread (``cpu_budget``); when several scans
run side by side in one janitor, what they share is the janitor's own CPU. ``ClientCpuPacer``
is told the process's CPU seconds and the wall clock after every batch (from any thread) and
answers how long that thread should sleep so the process stays within ``budget`` cores.
"""

from __future__ import annotations

import threading


class ClientCpuPacer:
    """Keeps process CPU within ``budget`` cores of wall time since the first reading."""

    def __init__(self, budget: float) -> None:
        if budget <= 0:
            raise ValueError("budget must be positive")
        self.budget = budget
        self._lock = threading.Lock()
        self._start: tuple[float, float] | None = None

    def delay(self, now: float, cpu_seconds: float) -> float:
        """Seconds to sleep now so that the CPU used so far fits the budget."""
        with self._lock:
            if self._start is None:
                self._start = (now, cpu_seconds)
                return 0.0
            started, cpu_start = self._start
        allowed_at = started + (cpu_seconds - cpu_start) / self.budget
        return max(0.0, allowed_at - now)
