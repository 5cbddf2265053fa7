"""Keep the scan's share of Redis's main thread under a budget (pure: readings in, pacing out).

The scanner takes a ``ServerSample`` (the server's CPU time from ``INFO cpu`` and the calls of
other clients' commands from ``INFO commandstats``) and a monotonic clock around every probe
batch, and asks this controller how long to wait before the next batch and how many keys to ask
SCAN for. Redis also serves other clients while a batch runs, so the batch's own cost is the
CPU of its window less the other clients' calls in it, each charged at the CPU per call seen
between batches. Counting calls, not time, matters: other clients served less during a batch
(they wait behind it) or more right after it are charged what they really did.

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
SCAN_COMMANDS = frozenset(
    {"scan", "memory|usage", "object|idletime", "object|freq", "pttl", "type", "info"}
)


@dataclass(frozen=True)
class ServerSample:
    """One reading of the server: main-thread CPU seconds and other clients' command calls."""

    cpu_seconds: float
    other_calls: int


def server_cpu_seconds(info: Mapping[str, Any]) -> float:
    """Return the CPU seconds Redis's main thread used so far (whole process on Redis < 6.2)."""
    fields = _MAIN_THREAD_FIELDS if _MAIN_THREAD_FIELDS[0] in info else _PROCESS_FIELDS
    return sum(float(info[name]) for name in fields)


def server_sample(info: Mapping[str, Any]) -> ServerSample:
    """Build a sample from parsed ``INFO cpu`` + ``INFO commandstats`` fields.

    Calls of the commands the scan itself sends (``SCAN_COMMANDS``) are not "other": an
    application's own PTTL or TYPE calls are then charged to the scan, erring on the safe side.
    """
    other_calls = 0
    for name, value in info.items():
        if name.startswith("cmdstat_") and name[8:] not in SCAN_COMMANDS:
            other_calls += int(value["calls"])
    return ServerSample(server_cpu_seconds(info), other_calls)


@dataclass
class _Reading:
    at: float
    sample: ServerSample


class CpuBudgetController:
    """Decides the SCAN COUNT and the pause before each batch for a server-CPU ``budget``.

    ``budget`` is a fraction of one core (Redis's main thread): 0.10 lets the scan use 10 %.
    ``cycle_seconds`` is how often the scan should come back to the server: the batch size is
    chosen so that one batch costs about ``budget * cycle_seconds`` of server CPU, within
    ``min_count``..``max_count`` keys. Call ``delay`` before, ``batch_started`` at the start
    and ``batch_finished`` at the end of every batch.
    """

    def __init__(
        self,
        budget: float,
        max_count: int,
        min_count: int = 10,
        cycle_seconds: float = 0.02,
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
        self._cpu_per_other_call: float | None = None
        self._schedule: float | None = None
        self._started: _Reading | None = None
        self._finished: _Reading | None = None
        self.count = min(max_count, max(self._min_count, 100))
        self.scan_cpu_seconds = 0.0

    @property
    def cost_per_key(self) -> float | None:
        """The scan's server CPU per key measured so far (smoothed), None before a batch."""
        return self._cost_per_key

    def delay(self, now: float) -> float:
        """Return how many seconds to wait before starting the next batch."""
        if self._schedule is None:
            return 0.0
        return max(0.0, self._schedule - now)

    def batch_started(self, now: float, sample: ServerSample) -> None:
        """Record the clock and a server sample just before a batch is sent."""
        if self._finished is not None:
            self._learn_other_clients(self._finished.sample, sample)
        self._finished = None
        self._started = _Reading(now, sample)

    def batch_finished(self, now: float, sample: ServerSample, keys: int) -> None:
        """Record the clock and a sample once the batch's replies are in; plan the next one."""
        started = self._started
        if started is None:
            raise RuntimeError("batch_finished without batch_started")
        cost = self._own_cost(started.sample, sample)
        self.scan_cpu_seconds += cost
        if keys > 0:
            self._cost_per_key = self._blend(self._cost_per_key, cost / keys)
        begin = started.at if self._schedule is None else max(started.at, self._schedule)
        self._schedule = begin + cost / self.budget
        self._started = None
        self._finished = _Reading(now, sample)
        self.count = self._next_count()

    def _learn_other_clients(self, before: ServerSample, after: ServerSample) -> None:
        """Between batches all the work is other clients': learn their CPU per call."""
        calls = after.other_calls - before.other_calls
        if calls > 0:
            per_call = max(0.0, after.cpu_seconds - before.cpu_seconds) / calls
            self._cpu_per_other_call = self._blend(self._cpu_per_other_call, per_call)

    def _own_cost(self, before: ServerSample, after: ServerSample) -> float:
        """The batch window's CPU less the other clients' calls in it."""
        others = (after.other_calls - before.other_calls) * (self._cpu_per_other_call or 0.0)
        return max(0.0, after.cpu_seconds - before.cpu_seconds - others)

    def _next_count(self) -> int:
        if not self._cost_per_key:
            return self._max_count
        wanted = self.budget * self._cycle_seconds / self._cost_per_key
        return int(min(self._max_count, max(self._min_count, wanted)))

    def _blend(self, old: float | None, new: float) -> float:
        return new if old is None else old + self._smoothing * (new - old)
