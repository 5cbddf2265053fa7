"""The ``run`` and ``restore`` result documents (JSON contract) and their text rendering."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from janitor.app.instance_pass import CycleResult, HeadroomSnapshot
from janitor.app.report import SCHEMA_VERSION
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.units import format_bytes

TEXT_ACTION_ROWS = 50


def run_document(
    results: list[CycleResult],
    failures: list[tuple[str, JanitorError]],
    run_id: str,
    dry_run: bool,
) -> dict[str, Any]:
    """The ``run --format json`` document: before, after, actions, freed_bytes (+ per instance)."""
    actions = []
    for result in results:
        for outcome in result.outcomes:
            actions.append({**outcome.to_dict(), "instance": result.instance})
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "dry_run": dry_run,
        "before": headroom_section([result.before for result in results]),
        "after": headroom_section([result.after for result in results]),
        "actions": actions,
        "freed_bytes": sum(result.freed_bytes for result in results),
        "instances": [result.to_dict() for result in results],
        "errors": [
            {"instance": name, "exit_code": int(error.exit_code), "message": error.message}
            for name, error in failures
        ],
    }


def headroom_section(snapshots: list[HeadroomSnapshot]) -> dict[str, Any]:
    """A headroom object as ``headroom --format json`` has it: verdict, host, instances."""
    verdicts = [snapshot.verdict for snapshot in snapshots]
    worst = next((v for v in ("critical", "warn") if v in verdicts), "ok")
    host = next((snapshot.host for snapshot in snapshots if snapshot.host is not None), None)
    return {
        "verdict": worst,
        "host": host,
        "instances": [snapshot.document for snapshot in snapshots],
    }


def instance_exit_code(result: CycleResult) -> int:
    """2 when an action failed, 1 when headroom is still short afterwards, else 0."""
    if result.count("failed"):
        return ExitCode.CRITICAL
    if result.after.verdict != "ok" or result.after.need_to_free_bytes > 0:
        return ExitCode.WARN
    return ExitCode.OK


def run_exit_code(results: list[CycleResult], failures: list[tuple[str, JanitorError]]) -> int:
    """2 when an instance or an action failed, 75 when the only failures are instances locked
    by another run, else 1 when headroom is still short, else 0."""
    if failures:
        locked = all(error.exit_code == ExitCode.LOCKED for _, error in failures)
        return ExitCode.LOCKED if locked else ExitCode.CRITICAL
    return max((instance_exit_code(result) for result in results), default=ExitCode.OK)


def render_actions(document: Mapping[str, Any], console: Console) -> None:
    """Print the ``actions`` of a run or rescue document as a table (at most TEXT_ACTION_ROWS)."""
    title = "Plan (dry run: nothing changed)" if document["dry_run"] else "Actions"
    table = Table(title=title, title_justify="left")
    for column in ("db", "key", "action", "rule", "bytes", "result", "reason"):
        table.add_column(column, justify="right" if column in ("db", "bytes") else "left")
    for entry in document["actions"][:TEXT_ACTION_ROWS]:
        table.add_row(
            str(entry["db"]),
            Text(entry["key"]),
            entry["action"],
            Text(entry["rule"]),
            format_bytes(entry["bytes"]),
            entry["result"],
            Text(entry["reason"]),
        )
    console.print(table)
    hidden = len(document["actions"]) - TEXT_ACTION_ROWS
    if hidden > 0:
        _say(console, f"… and {hidden} more (use --format json for all)")


def render_run(document: Mapping[str, Any], console: Console) -> None:
    """Print the run result (or the dry-run plan) for people."""
    render_actions(document, console)
    for instance in document["instances"]:
        plan, results = instance["plan"], instance["results"]
        _say(
            console,
            f"{instance['instance']}: goal {plan['goal']}, "
            f"need {format_bytes(plan['need_to_free_bytes'])}, "
            f"planned {plan['planned_actions']} keys / {format_bytes(plan['planned_bytes'])}; "
            f"done {results['done']}, skipped {results['skipped']}, failed {results['failed']}; "
            f"freed (measured) {format_bytes(instance['freed_bytes'])}",
        )
        if instance["archive_file"]:
            _say(console, f"  archive: {instance['archive_file']}")
        for warning in instance["warnings"]:
            _say(console, f"  warning: {warning}")
    for before, after in zip(
        document["before"]["instances"], document["after"]["instances"], strict=False
    ):
        _say(console, f"headroom before: {_headline(before)}")
        _say(console, f"headroom after:  {_headline(after)}")
    for error in document["errors"]:
        _say(console, f"error: {error['instance']}: {error['message']}")


def _say(console: Console, text: str) -> None:
    """Print ``text`` literally (key names may contain rich markup characters)."""
    console.print(Text(text))


def _headline(headroom: Mapping[str, Any]) -> str:
    parts = [f"verdict {headroom.get('verdict')}"]
    for name, value in headroom.items():
        if name.endswith("_bytes") and isinstance(value, int):
            parts.append(f"{name} {format_bytes(value)}")
    return ", ".join(parts)


def render_restore(document: Mapping[str, Any], console: Console) -> None:
    """Print the restore summary for people."""
    prefix = "dry run: " if document["dry_run"] else ""
    for entry in document["files"]:
        state = "torn last record ignored" if entry["torn_tail"] else (entry["damage"] or "ok")
        _say(console, f"{entry['path']}: {entry['records']} records ({state})")
    for entry in document["keys"]:
        if entry["result"] != "restored":
            _say(
                console, f"  {entry['result']}: db {entry['db']} {entry['key']}: {entry['reason']}"
            )
    _say(
        console,
        f"{prefix}restored {document['restored']}, skipped {document['skipped']}, "
        f"failed {document['failed']}",
    )
