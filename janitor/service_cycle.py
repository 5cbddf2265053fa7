"""What ``serve`` runs: the cycle contract and today's default cycle (a locked dry-run scan).

A cycle is any ``CycleRunner``: ``runner(app, stop) -> CycleResult``. ``stop`` is a
``threading.Event`` set on the first SIGTERM/SIGINT: a cycle checks ``stop.is_set()`` between two
actions (never inside one: an archive/delete in flight is finished) and returns early when it is
set. The real ``run`` cycle plugs in by passing it instead of ``scan_cycle``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from janitor.connection import targets_from_settings
from janitor.errors import ExitCode, JanitorError
from janitor.inventory import scan_instance
from janitor.locking import default_lock_dir, instance_lock
from janitor.logs import get_logger
from janitor.metrics import CycleMetrics

if TYPE_CHECKING:
    from janitor.cli import AppContext

log = get_logger(__name__)


@dataclass
class CycleResult:
    """One cycle over every instance: metrics per instance and the exit code ``run`` would give.

    ``exit_code`` 69 (Redis unreachable) makes ``serve`` retry sooner, with backoff.
    """

    metrics: list[CycleMetrics] = field(default_factory=list)
    exit_code: int = ExitCode.OK


CycleRunner = Callable[["AppContext", threading.Event], CycleResult]


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


def scan_cycle(app: AppContext, stop: threading.Event) -> CycleResult:
    """Default cycle: per instance, under the instance lock, a dry-run scan (changes nothing)."""
    result = CycleResult()
    lock_dir = default_lock_dir(app.settings)
    for target in targets_from_settings(app.settings):
        if stop.is_set():
            log.info("cycle.stopped_early", reason="stop requested")
            break
        structlog.contextvars.bind_contextvars(instance=target.display)
        started = time.monotonic()
        try:
            with instance_lock(target, app.settings, lock_dir=lock_dir):
                scan = scan_instance(target, app.settings, progress=stop_checker(stop))
            result.metrics.append(
                CycleMetrics(
                    instance=target.display,
                    finished_at=time.time(),
                    duration_seconds=time.monotonic() - started,
                    succeeded=True,
                    scanned_keys=scan.aggregates.total.keys,
                )
            )
        except CycleStoppedError:
            log.info("cycle.stopped_early", reason="stop requested during the scan")
            break
        except JanitorError as error:
            log.warning(
                "cycle.instance_failed", exit_code=int(error.exit_code), error=error.message
            )
            result.exit_code = result.exit_code or int(error.exit_code)
            if error.exit_code != ExitCode.LOCKED:
                result.metrics.append(
                    CycleMetrics(
                        instance=target.display,
                        finished_at=time.time(),
                        duration_seconds=time.monotonic() - started,
                        succeeded=False,
                    )
                )
        finally:
            target.close()
            structlog.contextvars.unbind_contextvars("instance")
    return result
