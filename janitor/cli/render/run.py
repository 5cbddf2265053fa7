"""Text rendering of the ``run`` and ``restore`` result documents (built in ``app``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from janitor.cli.render.fit import print_table
from janitor.cli.render.plan import scope_line
from janitor.core.units import format_bytes

TEXT_ACTION_ROWS = 50


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
    print_table(console, table, lead=1)
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
        if "matching_keys" in plan:
            _say(console, f"  {scope_line(plan)}")
        if instance["archive_file"]:
            _say(console, f"  archive: {instance['archive_file']}")
        for warning in instance["warnings"]:
            _say(console, f"  warning: {warning}")
        _say_forecast(console, instance.get("forecast"))
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


def _say_forecast(console: Console, forecast: Mapping[str, Any] | None) -> None:
    """The forecast lines of a run's instance (before, after, what the cleanup bought)."""
    for side in ("before", "after"):
        if forecast:
            _say(console, f"  {side}: {forecast[side]['message']}")
    if forecast and forecast["message"]:
        _say(console, f"  {forecast['message']}")


def _headline(headroom: Mapping[str, Any]) -> str:
    parts = [f"verdict {headroom.get('verdict')}"]
    for name, value in headroom.items():
        if name.endswith("_bytes") and isinstance(value, int):
            parts.append(f"{name} {format_bytes(value)}")
    return ", ".join(parts)


def render_restore(document: Mapping[str, Any], console: Console) -> None:
    """Print the restore summary for people."""
    for entry in document["files"]:
        state = "torn last record ignored" if entry["torn_tail"] else (entry["damage"] or "ok")
        _say(console, f"{entry['path']}: {entry['records']} records ({state})")
    for entry in document["keys"]:
        if entry["result"] != "restored":
            _say(
                console, f"  {entry['result']}: db {entry['db']} {entry['key']}: {entry['reason']}"
            )
    if document["dry_run"]:
        _say(
            console,
            f"dry run, nothing changed: would restore {document['restored']}, "
            f"would skip {document['skipped']}, failed {document['failed']}",
        )
    else:
        _say(
            console,
            f"restored {document['restored']}, skipped {document['skipped']}, "
            f"failed {document['failed']}",
        )
