"""The ``rescue`` result document (JSON contract) and its text rendering.

Like ``run``: ``before``, ``after`` (headroom objects), ``actions``, ``freed_bytes`` (INFO
used_memory before minus after, measured); plus ``misconf_before``, ``misconf_after``,
``bgsave_status``, ``config_restored``, ``removed_bytes`` (bytes of the keys deleted or archived,
as judged), ``advice``, ``pending_restores`` and ``instances`` (each instance's full
``RescueOutcome`` with its freeing figures). The top-level fields sum up every instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.text import Text

from janitor.app.report import SCHEMA_VERSION
from janitor.app.rescue.outcome import RescueOutcome, RestoreResult, summary_lines
from janitor.app.rescue.run import InstanceRescue
from janitor.cli.render.run import headroom_section, render_actions
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.units import format_bytes

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
    pending: list[RestoreResult],
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
    document["exit_code"] = rescue_exit_code(rescues, failures)
    return document


def rescue_exit_code(
    rescues: list[InstanceRescue], failures: list[tuple[str, JanitorError]]
) -> int:
    """0 only when every instance is rescued (or needed none); else the worst code (2, 69, …)."""
    codes = [rescue.outcome.exit_code for rescue in rescues]
    codes += [int(error.exit_code) for _, error in failures]
    return max(codes, default=int(ExitCode.OK))


def pending_lines(pending: list[Mapping[str, Any]]) -> list[str]:
    """One line per rescue left unfinished by a killed janitor, and what was done about it."""
    return [f"pending rescue of {entry['instance']}: {entry['message']}" for entry in pending]


def render_rescue(document: Mapping[str, Any], console: Console) -> None:
    """Print the rescue result for people: pending restores, actions, outcome, headroom."""
    for line in pending_lines(document["pending_restores"]):
        console.print(Text(line))
    if document["actions"]:
        render_actions(document, console)
    before = {i["url"]: i for i in document["before"]["instances"]}
    after = {i["url"]: i for i in document["after"]["instances"]}
    for entry in document["instances"]:
        rescue = _outcome_view(entry)
        for line in summary_lines(rescue):
            console.print(Text(line))
        freeing = entry["freeing"]
        if freeing["archive_file"]:
            console.print(Text(f"  archive: {freeing['archive_file']}"))
        for warning in entry["warnings"]:
            console.print(Text(f"  warning: {warning}"))
        for label, side in (("before", before), ("after", after)):
            headroom = side.get(entry["instance"])
            if headroom is not None:
                console.print(Text(f"  headroom {label}: {_headline(headroom)}"))
    for error in document["errors"]:
        console.print(Text(f"error: {error['instance']}: {error['message']}"))


def _headline(headroom: Mapping[str, Any]) -> str:
    return (
        f"verdict {headroom['verdict']}, need to free "
        f"{format_bytes(headroom['need_to_free_bytes'])}, fork charge "
        f"{format_bytes(headroom['fork_charge_bytes'])}, RSS {format_bytes(headroom['rss_bytes'])}"
    )


def _outcome_view(entry: Mapping[str, Any]) -> RescueOutcome:
    """A RescueOutcome rebuilt from its JSON entry, for ``summary_lines``."""
    names = RescueOutcome.__dataclass_fields__
    view = RescueOutcome(**{name: entry[name] for name in names if name in entry})
    view.freed_bytes = entry["removed_bytes"]
    return view
