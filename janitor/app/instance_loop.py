"""The one per-instance loop that report, run, rescue and serve share.

``for_each_instance`` finishes interrupted rescues first when the command may write (a rescue
killed half-way must not leave ``stop-writes-on-bgsave-error`` lifted, whichever command runs
next), then runs ``work`` on each instance with its log context bound, keeps each instance's
failure as a result instead of an exception, stops between two instances when asked, and always
closes the connections. With ``workers`` > 1 (``scan.parallel_instances``) the instances are
worked on side by side under one janitor-CPU budget, acting in target order
(``janitor.app.parallel``). What the results mean for the exit code is ``app.exit_codes``' job.
"""

from __future__ import annotations

import contextvars
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Generic, TypeVar

import structlog

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.parallel import SharedLoop, Slot, StopRequested, enter_slot
from janitor.app.rescue import finish_interrupted_rescues
from janitor.app.rescue.outcome import RevertResult
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.core.logs import get_logger
from janitor.domain.client_budget import ClientCpuPacer

log = get_logger(__name__)
T = TypeVar("T")
__all__ = ["InstanceResults", "StopRequested", "for_each_instance"]


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
    workers: int = 1,
) -> InstanceResults[T]:
    """Run ``work`` on every target (None from ``work``: handled, nothing to collect).

    ``may_write``: finish interrupted rescues first (in a dry run only list them).
    ``on_failure`` is told of each failed instance at once (the CLI prints it).
    ``workers`` > 1: that many instances side by side (``janitor.app.parallel``); the results
    are the same, in target order.
    """
    outcome: InstanceResults[T] = InstanceResults()
    try:
        if may_write:
            outcome.reverts = finish_interrupted_rescues(
                targets, settings.rescue.state_dir, dry_run=dry_run
            )
        if min(workers, len(targets)) > 1:
            _side_by_side(targets, settings, work, outcome, should_stop, on_failure, workers)
            return outcome
        for target in targets:
            outcome.stopped = should_stop() if should_stop else None
            if outcome.stopped:
                log.info("cycle.stopped_early", reason=outcome.stopped)
                break
            if not _run_one(target, work, outcome, on_failure):
                break
            target.close()
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
        structlog.contextvars.unbind_contextvars("instance")
    return True


def _side_by_side(
    targets: Sequence[RedisTarget],
    settings: Settings,
    work: Callable[[RedisTarget], T | None],
    outcome: InstanceResults[T],
    should_stop: Callable[[], str | None] | None,
    on_failure: Callable[[JanitorError], None] | None,
    workers: int,
) -> None:
    """``workers`` threads, one instance each; results gathered in target order.

    Each worker runs in a copy of the caller's context (run id and log bindings), with its own
    ``instance`` binding and ``Slot``. Connections are closed once every worker is done (the
    headroom meter of one instance reads the others). A failed worker (not a JanitorError)
    stops the others and its exception is raised once they are done.
    """
    loop = SharedLoop(len(targets), ClientCpuPacer(settings.scan.max_client_cpu))
    told = threading.Lock()

    def tell(error: JanitorError) -> None:
        if on_failure is not None:
            with told:
                on_failure(error)

    def one(index: int, target: RedisTarget) -> _Done[T]:
        enter_slot(Slot(loop, index))
        try:
            reason = should_stop() if should_stop else None
            if reason or loop.stop.is_set():
                loop.request_stop(reason or "stop requested")
                return _Done(stopped=loop.stop_reason)
            single: InstanceResults[T] = InstanceResults()
            if not _run_one(target, work, single, tell):
                loop.request_stop(single.stopped or "stop requested")
            return _Done(single.results, single.failures, single.stopped)
        except BaseException:
            loop.request_stop("another instance's work failed")
            raise
        finally:
            loop.finished[index].set()

    with _stop_on_sigterm(loop), ThreadPoolExecutor(workers, "instance") as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, one, index, target)
            for index, target in enumerate(targets)
        ]
        try:
            done = [future.result() for future in futures]
        except BaseException as error:
            loop.request_stop("interrupted", interrupted=isinstance(error, KeyboardInterrupt))
            raise
    for item in done:
        outcome.results.extend(item.results)
        outcome.failures.extend(item.failures)
        outcome.stopped = outcome.stopped or item.stopped


@contextmanager
def _stop_on_sigterm(loop: SharedLoop) -> Iterator[None]:
    """While workers run, SIGTERM stops them gracefully (only the main thread gets signals:
    there the workers' rescues cannot install their own handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: FrameType | None) -> None:
        log.warning("cycle.stopping", reason="SIGTERM")
        loop.request_stop("stop requested (SIGTERM)", interrupted=True)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class _Done(Generic[T]):
    """What one worker brought back."""

    results: list[T] = field(default_factory=list)
    failures: list[tuple[str, JanitorError]] = field(default_factory=list)
    stopped: str | None = None
