"""Terminal rendering of the headroom document (the text mirrors the JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from janitor.cli.render.fit import print_table
from janitor.core.units import format_bytes

VERDICT_STYLE = {"ok": "green", "warn": "yellow", "critical": "bold red"}
MODE_NAMES = {0: "0 (heuristic)", 1: "1 (always)", 2: "2 (never)"}


def _size(value: int | None) -> str:
    return "-" if value is None else format_bytes(value)


def _verdict(value: str) -> str:
    return f"[{VERDICT_STYLE.get(value, 'bold')}]{value.upper()}[/]"


def host_lines(host: Mapping[str, Any]) -> list[str]:
    """One-line summaries of the host's commit accounting."""
    mode = host["overcommit_memory"]
    lines = [
        f"kernel {host['kernel_release'] or '?'}, overcommit_memory "
        f"{MODE_NAMES.get(mode, '?') if mode is not None else '?'}",
        f"CommitLimit {_size(host['commit_limit_bytes'])}, Committed_AS "
        f"{_size(host['committed_as_bytes'])}, MemTotal {_size(host['mem_total_bytes'])}, "
        f"MemAvailable {_size(host['mem_available_bytes'])}, SwapTotal "
        f"{_size(host['swap_total_bytes'])}, margin {_size(host['margin_bytes'])}",
    ]
    lines += [f"[yellow]unknown:[/yellow] {item}" for item in host["unknown"]]
    return lines


def instances_table(instances: list[Mapping[str, Any]]) -> Table:
    """The per-instance figures as a table."""
    table = Table(title="Fork headroom", title_justify="left")
    table.add_column("instance")
    table.add_column("pid", justify="right")
    for name in ("fork charge", "largest map", "RSS", "COW est.", "commit room", "COW room"):
        table.add_column(name, justify="right")
    table.add_column("to free", justify="right")
    table.add_column("verdict")
    for entry in instances:
        label = Text(entry["url"])  # a unix socket path may hold markup characters
        if entry["estimated"]:
            label.append(" (estimated)", style="dim")
        table.add_row(
            label,
            str(entry["pid"]) if entry["pid"] is not None else "-",
            _size(entry["fork_charge_bytes"]),
            _size(entry["largest_mapping_bytes"]),
            _size(entry["rss_bytes"]),
            _size(entry["cow_estimate_bytes"]),
            _size(entry["commit_headroom_bytes"]),
            _size(entry["cow_headroom_bytes"]),
            _size(entry["need_to_free_bytes"]),
            _verdict(entry["verdict"]),
        )
    return table


def render_headroom_section(document: Mapping[str, Any], console: Console) -> None:
    """Print the headroom part (host, table, reasons); used by ``headroom`` and ``report``."""
    console.print(f"[bold]fork headroom[/bold]: {_verdict(document['verdict'])}")
    for line in host_lines(document["host"]):
        console.print(f"  {line}")
    print_table(console, instances_table(document["instances"]))
    for entry in document["instances"]:
        for reason in entry["reasons"]:
            console.print(f"  {entry['url']}: {reason}", markup=False, highlight=False)
        diagnosis = (entry.get("persistence") or {}).get("diagnosis") or {}
        for line in diagnosis.get("evidence", []):
            console.print(f"    log: {line}", markup=False, highlight=False)
    for error in document.get("errors", []):
        console.print(f"  [red]error:[/red] {escape(error['url'])}: {escape(error['message'])}")


def render_headroom(document: Mapping[str, Any], console: Console) -> None:
    """Print the ``redis-janitor headroom`` document for people."""
    render_headroom_section(document, console)
