"""The ``run`` cycle under the instance lock, its metrics, and the cycle ``serve`` schedules.

``locked_pass`` is what both ``redis-janitor run`` and ``serve`` execute per instance: the
flock + Redis lock around one ``run_pass``, which stops acting (between two actions, never in
the middle of one) when a stop was requested or the Redis lock was lost.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import structlog

from janitor.adapters.prometheus import PassMetrics
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.lock import default_lock_dir, instance_lock
from janitor.app.context import AppContext
from janitor.app.headroom_meter import model_meter, model_predictor
from janitor.app.instance_pass import PassOptions, PassResult, run_pass
from janitor.app.rescue.gate import MisconfHandling
from janitor.app.run_result import instance_exit_code
from janitor.app.scheduled_cycle import CycleResult, CycleStoppedError, stop_checker
from janitor.app.topology import expand_targets
from janitor.config.settings import Settings
from janitor.core.errors import ExitCode, JanitorError, WritesRefusedError
from janitor.core.logs import get_logger

log = get_logger(__name__)
VERDICT_CODES = {"ok": 0, "warn": 1, "critical": 2}


def locked_pass(
    target: RedisTarget, settings: Settings, options: PassOptions, lock_dir: Path
) -> PassResult:
    """Run one cycle on ``target`` holding its lock; raise LockHeldError (75) when it is taken."""
    with instance_lock(target, settings, lock_dir=lock_dir) as held:
        asked_to_stop = options.should_stop

        def should_stop() -> str | None:
            if held.lost.is_set():
                return "the Redis lock was lost to another run"
            return asked_to_stop() if asked_to_stop else None

        options.should_stop = should_stop
        return run_pass(target, settings, options)


def pass_metrics(target: RedisTarget, started: float, result: PassResult | None) -> PassMetrics:
    """The metrics of one instance's cycle (``result`` None: the cycle failed)."""
    metrics = PassMetrics(
        instance=target.display,
        finished_at=time.time(),
        duration_seconds=time.monotonic() - started,
        succeeded=result is not None and result.count("failed") == 0,
        role=target.role or "",
        shard=target.shard or "",
    )
    if result is None:
        return metrics
    after = result.after.document
    metrics.scanned_keys = result.scanned_keys
    metrics.acted_keys = dict(
        Counter(o.planned.action for o in result.outcomes if o.result == "done")
    )
    metrics.freed_bytes = result.freed_bytes
    metrics.fork_charge_bytes = after.get("fork_charge_bytes")
    metrics.commit_headroom_bytes = after.get("commit_headroom_bytes")
    metrics.cow_headroom_bytes = after.get("cow_headroom_bytes")
    metrics.verdict = VERDICT_CODES.get(result.after.verdict)
    metrics.writes_refused = any(o.writes_refused for o in result.outcomes)
    return metrics


def scheduled_run_cycle(app: AppContext, stop: threading.Event) -> CycleResult:
    """What ``serve`` runs on schedule: the ``run`` cycle (with actions) on every instance."""
    outcome = CycleResult()
    targets = expand_targets(app.settings, acting=True)
    meter = model_meter(targets, app.settings)
    lock_dir = default_lock_dir(app.settings)
    misconf = MisconfHandling(app.settings, app.run_id, dry_run=False)

    def stop_reason() -> str | None:
        return "stop requested (SIGTERM)" if stop.is_set() else None

    for target in targets:
        if stop.is_set():
            log.info("cycle.stopped_early", reason="stop requested")
            break
        structlog.contextvars.bind_contextvars(instance=target.display)
        started = time.monotonic()
        options = PassOptions(
            dry_run=False,
            run_id=app.run_id,
            meter=meter,
            predictor=model_predictor,
            progress=stop_checker(stop),
            should_stop=stop_reason,
        )
        try:
            with instance_lock(target, app.settings, lock_dir=lock_dir):
                refused = misconf.handled(target, meter)
            if refused:
                outcome.exit_code = max(
                    outcome.exit_code, misconf.exit_code, 2 * (not misconf.rescues)
                )
                continue
            result = locked_pass(target, app.settings, options, lock_dir)
            outcome.metrics.append(pass_metrics(target, started, result))
            outcome.exit_code = max(outcome.exit_code, instance_exit_code(result))
        except CycleStoppedError:
            log.info("cycle.stopped_early", reason="stop requested during the scan")
            break
        except JanitorError as error:
            log.warning(
                "cycle.instance_failed", exit_code=int(error.exit_code), error=error.message
            )
            if outcome.exit_code in (ExitCode.OK, ExitCode.WARN):
                outcome.exit_code = int(error.exit_code)
            if error.exit_code != ExitCode.LOCKED:
                failed = pass_metrics(target, started, None)
                failed.writes_refused = True if isinstance(error, WritesRefusedError) else None
                outcome.metrics.append(failed)
        finally:
            target.close()
            structlog.contextvars.unbind_contextvars("instance")
    return outcome
