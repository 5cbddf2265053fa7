"""The ``rescue`` result document (JSON contract) and the exit code of a rescue.

Like ``run``: ``before``, ``after`` (headroom objects), ``actions``, ``freed_bytes`` (INFO
used_memory before minus after, measured); plus ``misconf_before``, ``misconf_after``,
``bgsave_status``, ``config_restored``, ``removed_bytes`` (bytes of the keys deleted or archived,
as judged), ``advice``, ``pending_restores`` and ``instances`` (each instance's full
``RescueOutcome`` with its freeing figures). The top-level fields sum up every instance.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from janitor.app.exit_codes import rescue_exit_code
from janitor.app.report import SCHEMA_VERSION
from janitor.app.rescue.outcome import RevertResult
from janitor.app.rescue.run import InstanceRescue
from janitor.app.run_result import headroom_section
from janitor.core.errors import JanitorError

GOOD_STATUSES = ("ok", "not_needed")


def _overall_status(statuses: list[str]) -> str | None:
    """One instance: its status; several: the first that is not good, else the first."""
    bad = [status for status in statuses if status not in GOOD_STATUSES]
    chosen = bad or statuses
    return chosen[0] if chosen else None


def _misconf_after(values: list[bool | None]) -> bool | None:
    if any(value is True for value in values):
        return True
    return None if any(value is None for value in values) else False


def instance_entry(rescue: InstanceRescue) -> dict[str, Any]:
    """One instance's part: the outcome, with measured and removed bytes, and the freeing."""
    outcome = rescue.outcome
    return {
        **outcome.to_dict(),
        "freed_bytes": rescue.measured_freed_bytes,
        "removed_bytes": outcome.freed_bytes,
        "used_memory_before_bytes": rescue.used_memory_before,
        "used_memory_after_bytes": rescue.used_memory_after,
        "freeing": rescue.freeing,
        "warnings": rescue.warnings,
    }


def rescue_document(
    rescues: list[InstanceRescue],
    failures: list[tuple[str, JanitorError]],
    pending: list[RevertResult],
    run_id: str,
    dry_run: bool,
) -> dict[str, Any]:
    """The ``rescue --format json`` document (see the module docstring)."""
    outcomes = [rescue.outcome for rescue in rescues]
    actions = [
        {**action.to_dict(), "instance": rescue.outcome.instance}
        for rescue in rescues
        for action in rescue.outcomes
    ]
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "rescue",
        "run_id": run_id,
        "dry_run": dry_run,
        "pending_restores": [asdict(result) for result in pending],
        "before": headroom_section([r.before for r in rescues if r.before is not None]),
        "after": headroom_section([r.after for r in rescues if r.after is not None]),
        "actions": actions,
        "freed_bytes": sum(rescue.measured_freed_bytes for rescue in rescues),
        "removed_bytes": sum(outcome.freed_bytes for outcome in outcomes),
        "misconf_before": any(outcome.misconf_before for outcome in outcomes),
        "misconf_after": _misconf_after([outcome.misconf_after for outcome in outcomes]),
        "bgsave_status": _overall_status([outcome.bgsave_status for outcome in outcomes]),
        "config_restored": all(outcome.config_restored for outcome in outcomes),
        "advice": [f"{o.instance}: {advice}" for o in outcomes for advice in o.advice],
        "instances": [instance_entry(rescue) for rescue in rescues],
        "errors": [
            {"instance": name, "exit_code": int(error.exit_code), "message": error.message}
            for name, error in failures
        ],
    }
    document["exit_code"] = rescue_exit_code(
        [rescue.outcome.exit_code for rescue in rescues], failures
    )
    return document
