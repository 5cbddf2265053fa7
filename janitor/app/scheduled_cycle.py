"""The contract of what ``serve`` runs (the real cycle is ``cleanup.scheduled_cleanup_cycle``).

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
