"""Finishing what a rescue left: put back original settings, adopt a killed rescue's record.

A rescue records the instance's original save settings before it changes anything
(``adapters.files.rescue_record``). ``revert_and_complete`` puts them back and marks the record
complete; ``finish_pending_reverts`` does that for every rescue that was killed half-way and is
called first by ``rescue`` and ``run``; ``adopt_pending_originals`` lets a new rescue start from
the true originals rather than from the settings a killed rescue left lifted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import redis
import structlog

from janitor.adapters.files.rescue_record import (
    OriginalSettings,
    RescueRecord,
    complete,
    instance_key,
    pending_restores,
    read_record,
)
from janitor.adapters.redis.connection import RedisTarget
from janitor.app.rescue.outcome import RevertResult
from janitor.app.rescue.steps import put_back_settings
from janitor.core.errors import LockHeldError
from janitor.core.logs import get_logger

log = get_logger(__name__)


def revert_and_complete(client: redis.Redis, state_dir: Path, record: RescueRecord) -> bool:
    """Put the original settings back; mark the state file complete only when that worked."""
    try:
        restored = put_back_settings(client, record.original, dry_run=False)
    except redis.RedisError as error:
        log.error("rescue.restore_failed", error=str(error), state_dir=str(state_dir))
        return False
    if restored:
        complete(state_dir, record)
        log.info("rescue.config_restored", **asdict(record.original))
    else:
        log.error("rescue.restore_mismatch", state_dir=str(state_dir))
    return restored


def rescue_still_running(pid: int, proc_root: Path = Path("/proc")) -> bool:
    """True when ``pid`` is another live janitor process (its rescue is not abandoned)."""
    if pid == os.getpid():
        return False
    try:
        command_line = (proc_root / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return b"janitor" in command_line


def finish_pending_reverts(targets: Sequence[RedisTarget], state_dir: Path) -> list[RevertResult]:
    """Put back the settings of every rescue that did not finish (call before rescue or run).

    A record for an instance not among ``targets``, or of a rescue whose process still runs, is
    left pending and reported.
    """
    by_key = {instance_key(target.url): target for target in targets}
    results = []
    for record in pending_restores(state_dir):
        target = by_key.get(record.instance)
        if target is None or rescue_still_running(record.pid):
            reason = (
                "not among the configured instances"
                if target is None
                else f"a rescue by pid {record.pid} is still running"
            )
            log.warning("rescue.pending_left", pending_instance=record.instance, reason=reason)
            results.append(RevertResult(record.instance, False, reason))
            continue
        with structlog.contextvars.bound_contextvars(instance=target.display):
            restored = revert_and_complete(target.client(), state_dir, record)
        message = "original settings restored" if restored else "restore failed; still pending"
        results.append(RevertResult(record.instance, restored, message))
    return results


def adopt_pending_originals(
    state_dir: Path, target: RedisTarget, current: OriginalSettings
) -> OriginalSettings:
    """The true originals: those of a rescue that was killed (it may have left the block lifted),
    else the current settings. LockHeldError if that rescue's process still runs."""
    pending = read_record(state_dir, instance_key(target.url))
    if pending is None or pending.status != "pending":
        return current
    if rescue_still_running(pending.pid):
        raise LockHeldError(
            f"a rescue of {target.display} by pid {pending.pid} is still running",
            hint="wait for it to finish",
        )
    log.warning("rescue.pending_adopted", **asdict(pending.original), pid=pending.pid)
    return pending.original
