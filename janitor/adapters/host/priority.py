"""Run a scan at a lower CPU priority (nice) so the host's other processes win the CPU.

On a small host the janitor's own CPU competes with Redis and its clients: a scan that decodes
replies while Redis runs takes a core the application's clients need, and their latency rises
with the scheduler's time slices, not with anything Redis does (docs/domain.md §4, "What
other clients feel"). A thread's niceness only yields to others when they want the CPU; the
scan still gets every idle cycle.

Linux keeps a niceness per thread, so ``lowered_priority`` lowers the calling thread only and
restores it afterwards. Raising the priority back needs CAP_SYS_NICE (or an RLIMIT_NICE that
allows it); without it the thread keeps the lower priority, which is harmless (what runs on
it afterwards is the janitor's own work). A platform without per-thread niceness leaves it
alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from janitor.core.logs import get_logger

log = get_logger(__name__)
MAX_NICE = 19


@contextmanager
def lowered_priority(steps: int) -> Iterator[int | None]:
    """Run the body with this thread's niceness raised by ``steps`` (like ``nice -n``; at most
    19; 0: unchanged).

    Yields the niceness in effect (None when it could not be read or set).
    """
    thread = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, thread)
    except (AttributeError, OSError):
        yield None
        return
    wanted = min(MAX_NICE, before + steps)
    if wanted <= before:
        yield before
        return
    try:
        os.setpriority(os.PRIO_PROCESS, thread, wanted)
    except OSError as error:
        log.debug("scan.nice_failed", nice=wanted, error=error.strerror)
        yield before
        return
    try:
        yield wanted
    finally:
        try:
            os.setpriority(os.PRIO_PROCESS, thread, before)
        except OSError:
            log.debug("scan.nice_kept", nice=wanted, reason="raising priority needs CAP_SYS_NICE")
