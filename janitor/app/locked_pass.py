"""One pass under the instance lock, and its metrics.

``locked_pass`` is what both ``redis-janitor run`` and ``serve`` execute per instance: the
flock + Redis lock around one ``run_pass``, which stops acting (between two actions, never in
the middle of one) when a stop was requested or the Redis lock was lost.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from janitor.adapters.files.touch_memory import touch_memory_for
from janitor.adapters.prometheus import PassMetrics
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.lock import instance_lock
from janitor.app.instance_pass import PassOptions, PassResult, run_pass
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.core.logs import get_logger

log = get_logger(__name__)
VERDICT_CODES = {"ok": 0, "warn": 1, "critical": 2}


def locked_pass(
    target: RedisTarget, settings: Settings, options: PassOptions, lock_dir: Path
) -> PassResult:
    """Run one pass on ``target`` holding its lock; raise LockHeldError (75) when it is taken.

    Once the pass has a result, a failure to release the lock is reported in the result (its
    actions already ran and must be reported), never raised.
    """
    result: PassResult | None = None
    try:
        with instance_lock(target, settings, lock_dir=lock_dir) as held:
            asked_to_stop = options.should_stop
            if options.touches is None:
                options.touches = touch_memory_for(lock_dir.parent, held.lock_file.name)

            def should_stop() -> str | None:
                if held.lost.is_set():
                    return "the Redis lock was lost to another run"
                return asked_to_stop() if asked_to_stop else None

            options.should_stop = should_stop
            result = run_pass(target, settings, options)
    except JanitorError as error:
        if result is None:
            raise
        result.failed_after_acting(f"releasing the lock failed: {error.message}", error)
    assert result is not None  # the block either returned a result or raised
    return result


def pass_metrics(target: RedisTarget, started: float, result: PassResult | None) -> PassMetrics:
    """The metrics of one instance's pass (``result`` None: the pass failed)."""
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
