"""The contract of what ``serve`` runs (the real cycle is ``service_run.scheduled_run_cycle``).

A cycle is any ``CycleRunner``: ``runner(app, stop) -> CycleResult``. ``stop`` is a
``threading.Event`` set on the first SIGTERM/SIGINT: a cycle checks ``stop.is_set()`` between two
actions (never inside one: an archive/delete in flight is finished) and returns early when it is
set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from janitor.adapters.prometheus import PassMetrics
from janitor.app.context import AppContext
from janitor.core.errors import ExitCode
from janitor.core.logs import get_logger

log = get_logger(__name__)


@dataclass
class CycleResult:
    """One cycle over every instance: metrics per instance and the exit code ``run`` would give.

    ``exit_code`` 69 (Redis unreachable) makes ``serve`` retry sooner, with backoff.
    """

    metrics: list[PassMetrics] = field(default_factory=list)
    exit_code: int = ExitCode.OK


CycleRunner = Callable[[AppContext, threading.Event], CycleResult]


class CycleStoppedError(Exception):
    """Raised inside a read-only step (a scan) to abandon it when a stop was requested."""


def stop_checker(stop: threading.Event) -> Callable[[int, int], None]:
    """A scan progress callback that abandons the scan at a batch boundary once ``stop`` is set.

    Only for read-only work: a scan changes nothing, so cutting it short is always safe.
    """

    def check(_done: int, _total: int) -> None:
        if stop.is_set():
            raise CycleStoppedError

    return check
