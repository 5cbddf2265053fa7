"""The cleanup use case that ``run`` and every ``serve`` cycle execute, instance by instance.

Per instance: the MISCONF gate (rescue it, or leave it alone and say why), then one locked pass
(headroom → scan → plan → act → headroom again) and its metrics. Both entry points go through
``for_each_instance``, so both finish interrupted rescues first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from janitor.adapters.prometheus import PassMetrics
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.lock import default_lock_dir, instance_lock
from janitor.app.context import AppContext
from janitor.app.exit_codes import cleanup_exit_code
from janitor.app.forecast_view import record_passes
from janitor.app.headroom_meter import model_meter, model_predictor
from janitor.app.instance_loop import InstanceResults, StopRequested, for_each_instance
from janitor.app.instance_pass import PassOptions, PassResult
from janitor.app.locked_pass import locked_pass, pass_metrics
from janitor.app.rescue import MisconfHandling
from janitor.app.run_result import run_document
from janitor.app.scheduled_cycle import CycleResult
from janitor.app.topology import expand_targets
from janitor.core.errors import ExitCode, JanitorError, WritesRefusedError
from janitor.domain.planner import Plan


@dataclass
class CleanupRequest:
    """How to run the cleanup: a dry run or not, and the hooks of the caller (all optional)."""

    dry_run: bool
    confirm: Callable[[Plan], None] | None = None
    progress: Callable[[str], Any] | None = None
    """Given the instance's name, returns a context manager yielding a progress callback."""
    should_stop: Callable[[], str | None] | None = None
    on_failure: Callable[[JanitorError], None] | None = None
    workers: int = 1
    """Instances worked on side by side (``scan.parallel_instances``; 1 when a prompt asks)."""


@dataclass
class Cleanup:
    """What the cleanup did: per-instance passes and failures, rescues, metrics."""

    instances: InstanceResults[PassResult]
    misconf: MisconfHandling
    metrics: list[PassMetrics] = field(default_factory=list)

    @property
    def failures(self) -> list[tuple[str, JanitorError]]:
        """Instances that failed, and those left alone because they refuse writes."""
        return self.instances.failures + self.misconf.failures

    def document(self, run_id: str, dry_run: bool) -> dict[str, Any]:
        """The ``run --format json`` document."""
        document = run_document(self.instances.results, self.failures, run_id, dry_run)
        self.misconf.add_to(document, self.instances.reverts)
        return document

    @property
    def exit_code(self) -> int:
        """The run's exit code (see ``app.exit_codes``)."""
        return cleanup_exit_code(
            self.instances.results, self.failures, self.misconf.exit_code, self.misconf.found
        )


def run_cleanup(app: AppContext, request: CleanupRequest) -> Cleanup:
    """Clean every configured instance (see the module docstring)."""
    targets = expand_targets(app.settings, acting=True)
    windows = app.dirty_windows if app.settings.headroom.dirty_page_window else None
    meter = model_meter(targets, app.settings, windows)
    lock_dir = default_lock_dir(app.settings)
    misconf = MisconfHandling(
        app.settings, app.run_id, request.dry_run, on_refused=request.on_failure or _ignore
    )
    metrics: list[PassMetrics] = []

    def clean(target: RedisTarget) -> PassResult | None:
        started = time.monotonic()
        try:
            with instance_lock(target, app.settings, lock_dir=lock_dir):
                if misconf.handled(target, meter):
                    return None
            options = PassOptions(
                dry_run=request.dry_run,
                run_id=app.run_id,
                meter=meter,
                predictor=model_predictor,
                confirm=request.confirm,
                should_stop=request.should_stop,
            )
            with _progress(request, target) as progress:
                options.progress = progress
                result = locked_pass(target, app.settings, options, lock_dir)
        except JanitorError as error:
            if error.exit_code != ExitCode.LOCKED:
                failed = pass_metrics(target, started, None)
                failed.writes_refused = True if isinstance(error, WritesRefusedError) else None
                metrics.append(failed)
            raise
        metrics.append(pass_metrics(target, started, result))
        return result

    instances = for_each_instance(
        targets,
        app.settings,
        clean,
        may_write=True,
        dry_run=request.dry_run,
        should_stop=request.should_stop,
        on_failure=request.on_failure,
        workers=request.workers,
    )
    order = {target.display: index for index, target in enumerate(targets)}
    misconf.failures.sort(key=lambda failure: order.get(failure[0], len(order)))
    metrics.sort(key=lambda item: order.get(item.instance, len(order)))
    return Cleanup(instances, misconf, metrics)


def scheduled_cleanup_cycle(app: AppContext, stop: threading.Event) -> CycleResult:
    """What ``serve`` runs on schedule: the cleanup (with actions) on every instance."""

    def stop_reason() -> str | None:
        return "stop requested (SIGTERM)" if stop.is_set() else None

    def checked_progress(_name: str) -> _StopCheck:
        return _StopCheck(stop)

    request = CleanupRequest(
        dry_run=False,
        progress=checked_progress,
        should_stop=stop_reason,
        workers=app.settings.scan.parallel_instances,
    )
    cleanup = run_cleanup(app, request)
    record_passes(app.settings, "serve", cleanup.instances.results, cleanup.metrics)
    return CycleResult(cleanup.metrics, cleanup.exit_code)


def _ignore(_error: JanitorError) -> None:
    """Nobody to tell (serve logs every failure)."""


def _progress(request: CleanupRequest, target: RedisTarget) -> Any:
    if request.progress is None:
        return _StopCheck(None)
    return request.progress(target.display)


class _StopCheck:
    """A progress 'bar' that only abandons the (read-only) scan once ``stop`` is set."""

    def __init__(self, stop: threading.Event | None) -> None:
        self._stop = stop

    def __enter__(self) -> Callable[[int, int], None] | None:
        return self._check if self._stop is not None else None

    def __exit__(self, *_exc: object) -> None:
        return None

    def _check(self, _done: int, _total: int) -> None:
        if self._stop is not None and self._stop.is_set():
            raise StopRequested
