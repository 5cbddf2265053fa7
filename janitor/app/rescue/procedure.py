"""Bring back an instance that refuses writes (MISCONF) after its BGSAVE failed.

``rescue_instance`` runs the steps of issue 5 in order: record the original settings durably,
lift the write block, free memory (an injected step: the policy decides what goes) with
``MEMORY PURGE`` until the injected headroom check passes, BGSAVE and wait (bounded), and
always — on success, failure, exception or SIGTERM — put the original settings back.
``finish_pending_reverts`` finishes a rescue that was killed half-way (call it first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import redis
import structlog

from janitor.adapters.files.rescue_record import (
    OriginalSettings,
    instance_key,
    record_originals,
)
from janitor.adapters.host.locality import url_is_local
from janitor.adapters.redis.connection import (
    RedisTarget,
    is_permission_error,
    redis_errors,
    translate_redis_error,
)
from janitor.adapters.redis.info import read_persistence_state
from janitor.app.rescue.diagnosis import Diagnosis, diagnose_misconf
from janitor.app.rescue.outcome import RescueOutcome, RevertResult, remaining_advice
from janitor.app.rescue.revert import (
    adopt_pending_originals,
    finish_pending_reverts,
    revert_and_complete,
)
from janitor.app.rescue.steps import (
    RescueInterruptedError,
    SigtermGuard,
    current_settings,
    lift_write_block,
    memory_purge,
    run_bgsave,
)
from janitor.config.settings import Settings
from janitor.core.errors import ExitCode, JanitorError, RedisPermissionError
from janitor.core.logs import get_logger
from janitor.domain.persistence import PersistenceState, is_misconf_error

log = get_logger(__name__)
FreeMemory = Callable[[int], int]
"""Given the bytes still needed (0 when unknown), free some; return the bytes freed (0: done)."""


def rescue_instance(
    target: RedisTarget,
    settings: Settings,
    *,
    free_memory: FreeMemory,
    headroom_ok: Callable[[], bool],
    state_dir: Path | None = None,
    dry_run: bool,
    bgsave_timeout: float | None = None,
    need_to_free: Callable[[], int] | None = None,
    run_id: str | None = None,
    after_block_lifted: Callable[[], None] | None = None,
) -> RescueOutcome:
    """Rescue ``target`` if its last BGSAVE failed; see the module docstring for the steps.

    ``need_to_free`` (optional) gives the bytes still needed, passed to ``free_memory`` and
    reported when the rescue falls short. ``after_block_lifted`` is a hook for tests. Raises
    JanitorError when the instance is unreachable or CONFIG is forbidden; any other failure is
    reported in the outcome (exit 2) after the settings are restored.
    """
    with structlog.contextvars.bound_contextvars(instance=target.display):
        return _rescue(
            target,
            settings,
            free_memory=free_memory,
            headroom_ok=headroom_ok,
            state_dir=state_dir or settings.rescue.state_dir,
            dry_run=dry_run,
            bgsave_timeout=bgsave_timeout,
            need_to_free=need_to_free,
            run_id=run_id,
            after_block_lifted=after_block_lifted,
        )


def _rescue(
    target: RedisTarget,
    settings: Settings,
    *,
    free_memory: FreeMemory,
    headroom_ok: Callable[[], bool],
    state_dir: Path,
    dry_run: bool,
    bgsave_timeout: float | None,
    need_to_free: Callable[[], int] | None,
    run_id: str | None,
    after_block_lifted: Callable[[], None] | None,
) -> RescueOutcome:
    rescue_settings = settings.rescue
    timeout = bgsave_timeout if bgsave_timeout is not None else rescue_settings.bgsave_timeout
    client = target.client()
    with redis_errors(target.display):
        before = read_persistence_state(client)
    outcome = RescueOutcome(target.display, dry_run, before.writes_refused, before.to_dict())
    if not before.last_bgsave_failed:
        outcome.bgsave_status = "not_needed"
        outcome.misconf_after = before.writes_refused
        log.info("rescue.not_needed", rdb_last_bgsave_status=before.rdb_last_bgsave_status)
        return outcome
    with redis_errors(target.display):
        diagnosis = diagnose_misconf(
            client, local=url_is_local(target.url), tail_bytes=rescue_settings.log_tail_bytes
        )
    outcome.diagnosis = diagnosis.to_dict()
    log.warning("rescue.diagnosed", cause=diagnosis.cause, evidence=diagnosis.evidence)
    if not diagnosis.memory_helps:
        return _refuse_disk(outcome, diagnosis, before)
    with redis_errors(target.display):
        original = current_settings(client)
    if original is None:
        raise RedisPermissionError(
            f"Redis at {target.display} does not permit CONFIG GET/SET, so a rescue cannot lift "
            "the write block and put it back",
            hint="grant it with: ACL SETUSER <user> +config|get +config|set",
        )
    original = adopt_pending_originals(state_dir, target, original)
    outcome.original_settings = asdict(original)
    if dry_run:
        outcome.misconf_after = before.writes_refused
        outcome.advice.append(
            "dry run: would record the original settings, lift the write block, free memory "
            "by policy, BGSAVE and put the settings back"
        )
        return outcome
    record = record_originals(state_dir, instance_key(target.url), original, run_id)
    log.info("rescue.originals_recorded", **asdict(original), state_dir=str(state_dir))
    guard = SigtermGuard()
    with guard:
        try:
            lift_write_block(client, dry_run=dry_run)
            outcome.block_lifted = True
            log.warning("rescue.block_lifted", stop_writes_on_bgsave_error="no")
            if after_block_lifted is not None:
                after_block_lifted()
            _free_and_save(
                outcome,
                client,
                _Steps(free_memory, headroom_ok, need_to_free),
                max_rounds=rescue_settings.max_rounds,
                timeout=timeout,
                fork_probe=rescue_settings.probe_with_bgsave and diagnosis.cause == "fork_enomem",
                interrupted=guard.interrupted,
            )
        except RescueInterruptedError:
            outcome.interrupted = True
            log.warning("rescue.interrupted", signal="SIGTERM")
        except (JanitorError, redis.RedisError) as error:
            stopped_by: Exception = error
            if isinstance(error, redis.RedisError) and is_permission_error(error):
                stopped_by = translate_redis_error(error, outcome.instance)
            outcome.error = str(stopped_by)
            if isinstance(stopped_by, JanitorError):
                outcome.error_exit_code = int(stopped_by.exit_code)
            log.error("rescue.failed", error=str(error))
        finally:
            guard.hold()
            outcome.config_restored = revert_and_complete(client, state_dir, record)
        outcome.interrupted = outcome.interrupted or guard.received
    _measure_after(outcome, client)
    still_needed = _still_needed(need_to_free) if not outcome.headroom_ok else None
    outcome.advice.extend(remaining_advice(outcome, diagnosis.advice, still_needed))
    log.info(
        "rescue.finished",
        exit_code=outcome.exit_code,
        freed_bytes=outcome.freed_bytes,
        bgsave_status=outcome.bgsave_status,
        misconf_after=outcome.misconf_after,
        config_restored=outcome.config_restored,
    )
    return outcome


def _refuse_disk(
    outcome: RescueOutcome, diagnosis: Diagnosis, before: PersistenceState
) -> RescueOutcome:
    outcome.misconf_after = before.writes_refused
    outcome.advice.append(
        f"{diagnosis.message}. Nothing was deleted or changed. {diagnosis.advice}"
    )
    log.error("rescue.refused_disk_error", evidence=diagnosis.evidence)
    return outcome


@dataclass(frozen=True)
class _Steps:
    """The injected steps: free memory by policy, and the headroom model's judgement."""

    free_memory: FreeMemory
    headroom_ok: Callable[[], bool]
    need_to_free: Callable[[], int] | None


def _free_and_save(
    outcome: RescueOutcome,
    client: redis.Redis,
    steps: _Steps,
    *,
    max_rounds: int,
    timeout: float,
    fork_probe: bool,
    interrupted: Callable[[], bool],
) -> None:
    """Until a BGSAVE succeeds: BGSAVE when the model says the fork fits (or, with
    ``fork_probe``, always: a refused fork costs nothing), else free → MEMORY PURGE → again.

    Stops on a save that was not refused, when a round freed nothing, or after ``max_rounds``.
    Never called in a dry run (``rescue_instance`` returns before).
    """
    freed = 1
    while True:
        if interrupted():
            raise RescueInterruptedError("rescue interrupted by SIGTERM")
        outcome.headroom_ok = steps.headroom_ok()
        if outcome.headroom_ok or fork_probe:
            outcome.bgsave_status = run_bgsave(
                client, timeout, dry_run=False, interrupted=interrupted
            )
            log.info("rescue.bgsave_finished", status=outcome.bgsave_status, round=outcome.rounds)
            if outcome.bgsave_status != "refused" or not fork_probe:
                return
        if freed <= 0 or outcome.rounds >= max_rounds:
            return
        outcome.rounds += 1
        needed = steps.need_to_free() if steps.need_to_free is not None else 0
        freed = steps.free_memory(needed)
        outcome.freed_bytes += freed
        purged = memory_purge(client, dry_run=False)
        log.info(
            "rescue.freed",
            round=outcome.rounds,
            needed_bytes=needed,
            freed_bytes=freed,
            purged=purged,
        )


def _still_needed(need_to_free: Callable[[], int] | None) -> int | None:
    """The model's remaining need for the advice; None when unknown or not measurable now."""
    if need_to_free is None:
        return None
    try:
        return need_to_free()
    except (JanitorError, redis.RedisError, OSError) as error:
        log.warning("rescue.need_unknown", error=str(error))
        return None


def _measure_after(outcome: RescueOutcome, client: redis.Redis) -> None:
    """Read the persistence state again and prove writes are accepted with a PING."""
    try:
        after = read_persistence_state(client)
        outcome.persistence_after = after.to_dict()
        client.ping()
        outcome.misconf_after = False
    except redis.ResponseError as error:
        outcome.misconf_after = is_misconf_error(error) or None
        if is_permission_error(error):
            translated = translate_redis_error(error, outcome.instance)
            outcome.error = outcome.error or str(translated)
            outcome.error_exit_code = outcome.error_exit_code or int(ExitCode.NO_PERMISSION)
    except redis.RedisError as error:
        outcome.error = outcome.error or f"cannot read the state after the rescue: {error}"


__all__ = [
    "FreeMemory",
    "OriginalSettings",
    "RescueOutcome",
    "RevertResult",
    "finish_pending_reverts",
    "rescue_instance",
]
