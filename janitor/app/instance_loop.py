"""The one per-instance loop that report, run, rescue and serve share.

``for_each_instance`` finishes interrupted rescues first when the command may write (a rescue
killed half-way must not leave ``stop-writes-on-bgsave-error`` lifted, whichever command runs
next), then runs ``work`` on each instance with its log context bound, keeps each instance's
failure as a result instead of an exception, stops between two instances when asked, and always
closes the connections. What the results mean for the exit code is ``app.exit_codes``' job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.rescue import finish_interrupted_rescues
from janitor.app.rescue.outcome import RevertResult
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.core.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")


class StopRequested(Exception):  # noqa: N818  (a signal to stop, not an error)
    """Raised inside read-only work (a scan) to abandon it when a stop was requested."""


@dataclass
class InstanceResults(Generic[T]):
    """What one command did on each instance: results, failures, rescues finished first."""

    results: list[T] = field(default_factory=list)
    failures: list[tuple[str, JanitorError]] = field(default_factory=list)
    reverts: list[RevertResult] = field(default_factory=list)
    stopped: str | None = None

    def raise_if_all_failed(self) -> None:
        """Raise the first failure when no instance gave a result (nothing else to say)."""
        if self.failures and not self.results:
            raise self.failures[0][1]


def for_each_instance(
    targets: Sequence[RedisTarget],
    settings: Settings,
    work: Callable[[RedisTarget], T | None],
    *,
    may_write: bool,
    dry_run: bool = False,
    should_stop: Callable[[], str | None] | None = None,
    on_failure: Callable[[JanitorError], None] | None = None,
) -> InstanceResults[T]:
    """Run ``work`` on every target (None from ``work``: handled, nothing to collect).

    ``may_write``: finish interrupted rescues first (in a dry run only list them).
    ``on_failure`` is told of each failed instance at once (the CLI prints it).
    """
    outcome: InstanceResults[T] = InstanceResults()
    try:
        if may_write:
            outcome.reverts = finish_interrupted_rescues(
                targets, settings.rescue.state_dir, dry_run=dry_run
            )
        for target in targets:
            outcome.stopped = should_stop() if should_stop else None
            if outcome.stopped:
                log.info("cycle.stopped_early", reason=outcome.stopped)
                break
            if not _run_one(target, work, outcome, on_failure):
                break
    finally:
        for target in targets:
            target.close()
    return outcome


def _run_one(
    target: RedisTarget,
    work: Callable[[RedisTarget], T | None],
    outcome: InstanceResults[T],
    on_failure: Callable[[JanitorError], None] | None,
) -> bool:
    """Run ``work`` on one target; False when a stop was requested inside it."""
    structlog.contextvars.bind_contextvars(instance=target.display)
    try:
        result = work(target)
        if result is not None:
            outcome.results.append(result)
    except StopRequested:
        outcome.stopped = "stop requested during the scan"
        log.info("cycle.stopped_early", reason=outcome.stopped)
        return False
    except JanitorError as error:
        outcome.failures.append((target.display, error))
        log.error("instance.failed", exit_code=int(error.exit_code), error=error.message)
        if on_failure is not None:
            on_failure(error)
    finally:
        target.close()
        structlog.contextvars.unbind_contextvars("instance")
    return True
