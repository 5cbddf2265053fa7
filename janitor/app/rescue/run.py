"""Rescue one configured instance with the real parts: the headroom model and the policy.

``rescue_target`` measures headroom, runs ``rescue_instance`` with a ``PolicyFreer`` as its free
step and the model's verdict and need as its checks, and measures again.
``finish_interrupted_rescues`` is the first step of every command that may write: it puts back
the settings of rescues killed half-way (in a dry run it only lists them).
``writes_refused_section`` is the check ``run`` makes before acting on an instance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from janitor.adapters.files.rescue_record import pending_restores
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.key_actions import ActionOutcome
from janitor.app.instance_pass import HeadroomMeter, HeadroomSnapshot
from janitor.app.parallel import in_parallel_loop, note_changes, wait_for_turn
from janitor.app.rescue.diagnosis import persistence_section
from janitor.app.rescue.free import PolicyFreer
from janitor.app.rescue.outcome import RescueOutcome, RevertResult
from janitor.app.rescue.procedure import rescue_instance
from janitor.app.rescue.revert import finish_pending_reverts
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.core.logs import get_logger

log = get_logger(__name__)
DRY_RUN_PENDING = "dry run: the original settings would be restored"


@dataclass
class InstanceRescue:
    """One instance's rescue: the outcome, headroom before and after, and the actions taken."""

    outcome: RescueOutcome
    before: HeadroomSnapshot | None
    after: HeadroomSnapshot | None
    outcomes: list[ActionOutcome]
    freeing: dict[str, Any]
    used_memory_before: int | None = None
    used_memory_after: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def measured_freed_bytes(self) -> int:
        """INFO used_memory before the rescue minus after (0 when either is unknown)."""
        if self.used_memory_before is None or self.used_memory_after is None:
            return 0
        return self.used_memory_before - self.used_memory_after


def finish_interrupted_rescues(
    targets: Sequence[RedisTarget], state_dir: Path, *, dry_run: bool
) -> list[RevertResult]:
    """Put back what killed rescues left lifted (dry run: only say what would be put back)."""
    if dry_run:
        results = [
            RevertResult(record.instance, False, "dry run: the original settings would be restored")
            for record in pending_restores(state_dir)
        ]
    else:
        results = finish_pending_reverts(targets, state_dir)
    if results:
        log.warning(
            "rescue.pending_finished",
            restored=sum(result.restored for result in results),
            left_pending=sum(not result.restored for result in results),
            dry_run=dry_run,
        )
    return results


def writes_refused_section(target: RedisTarget, settings: Settings) -> dict[str, Any] | None:
    """The persistence section when ``target`` refuses writes (MISCONF), else None."""
    with redis_errors(target.display):
        section = persistence_section(target.client(), target.url, settings.rescue.log_tail_bytes)
    return section if section["writes_refused"] else None


def _used_memory(target: RedisTarget) -> int | None:
    try:
        with redis_errors(target.display):
            return int(target.client().info("memory").get("used_memory", 0))
    except JanitorError:
        return None


def _measure(
    meter: HeadroomMeter, target: RedisTarget, warnings: list[str]
) -> HeadroomSnapshot | None:
    try:
        return meter(target)
    except (JanitorError, LookupError) as error:
        warnings.append(f"headroom not measured: {error}")
        return None


def rescue_target(
    target: RedisTarget,
    settings: Settings,
    meter: HeadroomMeter,
    *,
    dry_run: bool,
    run_id: str,
    progress: Callable[[int, int], None] | None = None,
) -> InstanceRescue:
    """Rescue ``target`` (see ``procedure``); JanitorError when it cannot even start.

    Side by side with other instances (``janitor.app.parallel``) the candidates are scanned at
    once and the rescue itself (lift, free, save, put back) waits for this instance's turn.
    """
    warnings: list[str] = []
    freer = PolicyFreer(target, settings, dry_run=dry_run, run_id=run_id, progress=progress)
    if in_parallel_loop() and writes_refused_section(target, settings) is not None:
        freer.scan()  # reads only (allowed under MISCONF); the rest in turn
    wait_for_turn()
    before = _measure(meter, target, warnings)
    used_before = _used_memory(target)
    try:
        outcome = rescue_instance(
            target,
            settings,
            free_memory=freer,
            headroom_ok=lambda: meter(target).verdict != "critical",
            need_to_free=lambda: meter(target).need_to_free_bytes,
            dry_run=dry_run,
            run_id=run_id,
        )
        if dry_run and outcome.original_settings is not None:
            freer.preview(before.need_to_free_bytes if before is not None else 0)
    finally:
        freer.close()
        if not dry_run:
            note_changes()  # later instances on this host measure their headroom again
    after = _measure(meter, target, warnings)
    if outcome.block_lifted and outcome.exit_code != 0 and outcome.bgsave_status != "ok":
        still_needed = after.need_to_free_bytes if after else None
        outcome.advice.extend(
            freer.advice(still_needed, include_need=outcome.headroom_ok is not False)
        )
    return InstanceRescue(
        outcome=outcome,
        before=before,
        after=after,
        outcomes=freer.outcomes,
        freeing=freer.summary(),
        used_memory_before=used_before,
        used_memory_after=_used_memory(target),
        warnings=warnings + freer.warnings,
    )
