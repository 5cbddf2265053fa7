"""Instances worked on side by side: one janitor-CPU budget, acting turns in target order.

``for_each_instance`` with several workers runs each instance's work in a thread that knows its
``Slot`` (a context variable, like the log context). Three things then hold across workers:

- **one CPU budget**: ``paced(progress)`` wraps a scan's progress callback so that, after every
  batch, the worker sleeps as long as the shared ``ClientCpuPacer`` says (``scan.max_client_cpu``
  cores for the whole process; each scan keeps its own Redis-side limits, which are per server);
- **turns**: reading (headroom, scan) runs side by side, but ``wait_for_turn()`` holds a worker
  until every earlier instance's work has finished, so plans, prompts, actions and rescues
  happen one instance at a time, in target order, as in a sequential loop. Instances on one host
  share its commit limit and RAM (the headroom model adds their charges up), so an instance's
  need is measured again once an earlier one changed something (``note_changes``);
- **one stop**: a stop (SIGTERM, a failed worker, a stop requested inside a scan) ends every
  worker at its next batch, turn or action.

Outside such a loop (one worker, or a direct call) every function here is a no-op.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from janitor.domain.client_budget import ClientCpuPacer

ProgressFn = Callable[[int, int], None]


class StopRequested(Exception):  # noqa: N818  (a signal to stop, not an error)
    """Raised inside read-only work (a scan) to abandon it when a stop was requested."""


@dataclass
class SharedLoop:
    """What the workers of one loop share."""

    count: int
    pacer: ClientCpuPacer
    sleep: Callable[[float], None] = time.sleep
    finished: list[threading.Event] = field(init=False)
    changed: list[bool] = field(init=False)
    stop: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None
    interrupted: bool = False
    """The stop came from SIGTERM or Ctrl-C (a rescue in progress then puts settings back)."""

    def __post_init__(self) -> None:
        self.finished = [threading.Event() for _ in range(self.count)]
        self.changed = [False] * self.count

    def request_stop(self, reason: str, *, interrupted: bool = False) -> None:
        """Stop every worker at its next batch, turn or action (the first reason is kept)."""
        self.interrupted = self.interrupted or interrupted
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()


@dataclass(frozen=True)
class Slot:
    """One worker's place in its loop: the index of its target."""

    loop: SharedLoop
    index: int


_current: ContextVar[Slot | None] = ContextVar("janitor_instance_slot", default=None)


def enter_slot(slot: Slot) -> None:
    """Make ``slot`` the current worker's (call inside the worker's own context)."""
    _current.set(slot)


def in_parallel_loop() -> bool:
    """True inside a worker of a side-by-side loop."""
    return _current.get() is not None


def stop_reason() -> str | None:
    """Why the side-by-side loop is stopping (None: it is not, or there is no such loop)."""
    slot = _current.get()
    if slot is None or not slot.loop.stop.is_set():
        return None
    return slot.loop.stop_reason or "stop requested"


def interrupted() -> bool:
    """True inside a worker of a loop stopped by SIGTERM or Ctrl-C."""
    slot = _current.get()
    return slot is not None and slot.loop.interrupted


def paced(progress: ProgressFn | None) -> ProgressFn | None:
    """``progress`` paced by the loop's shared CPU budget (unchanged outside a loop).

    The wrapper also abandons the (read-only) scan with StopRequested once the loop stops.
    """
    slot = _current.get()
    if slot is None:
        return progress
    loop = slot.loop

    def update(done: int, total: int) -> None:
        if loop.stop.is_set():
            raise StopRequested
        loop.sleep(loop.pacer.delay(time.monotonic(), time.process_time()))
        if progress is not None:
            progress(done, total)

    return update


def wait_for_turn() -> bool:
    """Wait until every earlier instance's work finished; True when one of them changed
    something (then figures measured before, headroom above all, are stale).

    Raises StopRequested when the loop stops meanwhile (nothing was changed yet: the caller
    only read). Outside a loop: False at once.
    """
    slot = _current.get()
    if slot is None:
        return False
    loop = slot.loop
    for earlier in loop.finished[: slot.index]:
        while not earlier.wait(0.1):
            if loop.stop.is_set():
                raise StopRequested
    if loop.stop.is_set():
        raise StopRequested
    return any(loop.changed[: slot.index])


def note_changes() -> None:
    """Say that this worker changed an instance (later instances measure headroom again)."""
    slot = _current.get()
    if slot is not None:
        slot.loop.changed[slot.index] = True
