"""Text rendering of the ``rescue`` result document (built by ``app.rescue.result``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.text import Text

from janitor.app.rescue.outcome import RescueOutcome, summary_lines
from janitor.cli.render.run import render_actions, render_run
from janitor.core.units import format_bytes


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


def render_run_with_rescue(document: Mapping[str, Any], console: Console) -> None:
    """``render_run`` preceded by pending restores and followed by any rescue."""
    for line in pending_lines(document.get("pending_restores", [])):
        console.print(Text(line))
    render_run(document, console)
    if "rescue" in document:
        render_rescue(document["rescue"], console)
