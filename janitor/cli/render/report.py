"""Terminal rendering of report documents with rich tables (text mirrors the JSON exactly)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from janitor.cli.render.fit import print_table
from janitor.core.units import format_bytes, format_duration

IDLE_LABELS = {
    "lt_1h": "< 1h",
    "lt_1d": "< 1d",
    "lt_7d": "< 7d",
    "lt_30d": "< 30d",
    "ge_30d": "≥ 30d",
    "not_tracked": "not tracked (LFU)",
    "none": "no TTL",
    "ge_7d": "≥ 7d",
}
PREFIX_ROWS = 20


def _tally_table(title: str, first: str, rows: list[tuple[str, Mapping[str, int]]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first)
    table.add_column("keys", justify="right")
    table.add_column("bytes", justify="right")
    for label, tally in rows:
        # Text, not markup: a prefix is part of a key name and may hold "[/x]" or "[bold]".
        table.add_row(Text(label), f"{tally['keys']:,}", format_bytes(tally["bytes"]))
    return table


def _staleness(entry: Mapping[str, Any]) -> str:
    if entry.get("idle_seconds") is not None:
        return format_duration(entry["idle_seconds"])
    if entry.get("freq") is not None:
        return f"freq {entry['freq']}"
    return "?"


def top_keys_table(entries: list[Mapping[str, Any]], title: str = "Largest keys") -> Table:
    """Return a table of key entries (as in the JSON ``top_keys``)."""
    table = Table(title=title, title_justify="left")
    for name, justify in (("db", "right"), ("key", "left"), ("type", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("size", "idle", "ttl"):
        table.add_column(name, justify="right")
    for entry in entries:
        ttl = entry.get("ttl_seconds")
        table.add_row(
            str(entry["db"]),
            Text(entry["key"]),
            entry["type"],
            format_bytes(entry["bytes"]),
            _staleness(entry),
            "-" if ttl is None else format_duration(ttl),
        )
    return table


def node_label(node: Mapping[str, Any] | None) -> str:
    """`` [replica, node 1a2b3c4d, shard 5e6f7a8b]`` (empty when nothing is known)."""
    if not node or not node.get("role"):
        return ""
    parts = [str(node["role"])]
    if node.get("node_id"):
        parts.append(f"node {str(node['node_id'])[:8]}")
    if node.get("shard"):
        parts.append(f"shard {str(node['shard'])[:8]}")
    return escape(f" [{', '.join(parts)}]")


def render_report(document: Mapping[str, Any], console: Console) -> None:
    """Print a report document for people."""
    console.print(
        f"[bold]redis-janitor report[/bold] (dry run, run {document['run_id']}): "
        f"{document['scanned_keys']:,} keys, {format_bytes(document['scanned_bytes'])}"
    )
    for instance in document["instances"]:
        rate = instance["keys_per_second"]
        console.print(
            f"  {escape(instance['url'])}{node_label(instance.get('node'))}: "
            f"{instance['server']['flavor']} {instance['server']['version']}, "
            f"DBs {instance['dbs'] or '-'}, {instance['scanned_keys']:,} keys, "
            f"{format_bytes(instance['scanned_bytes'])} in "
            f"{instance['duration_seconds']:.1f}s" + (f" ({rate:,.0f} keys/s)" if rate else "")
        )
        if instance["top_keys"] and len(document["instances"]) > 1:
            top = instance["top_keys"][0]
            console.print(f"    top key: {escape(top['key'])} ({format_bytes(top['bytes'])})")
        for warning in instance["warnings"]:
            console.print(f"  [yellow]warning:[/yellow] {escape(warning)}")
    if not document["scanned_keys"]:
        console.print("No keys: the selected databases are empty (or nothing matched).")
        return
    if document.get("sample_rate"):
        console.print(
            f"[yellow]sampled:[/yellow] by type, idle time and TTL are estimates from "
            f"{document['sample_rate']:.1%} of the keys; totals, DBs, prefixes, sizes and the "
            "top keys are exact"
        )
    print_table(console, top_keys_table(document["top_keys"]), lead=1)
    print_table(
        console, _tally_table("By DB", "db", [(str(r["db"]), r) for r in document["by_db"]])
    )
    print_table(
        console, _tally_table("By type", "type", [(r["type"], r) for r in document["by_type"]])
    )
    prefixes = [(r["prefix"] or "(no prefix)", r) for r in document["by_prefix"][:PREFIX_ROWS]]
    print_table(console, _tally_table("By prefix (largest)", "prefix", prefixes))
    sizes = [(f"≤ {format_bytes(r['le_bytes'])}", r) for r in document["size_histogram"]]
    print_table(console, _tally_table("Size histogram", "size", sizes))
    idle = [(IDLE_LABELS[k], v) for k, v in document["idle_histogram"].items() if v["keys"]]
    print_table(console, _tally_table("Idle time", "idle", idle))
    ttl = [(IDLE_LABELS[k], v) for k, v in document["ttl_buckets"].items()]
    print_table(console, _tally_table("TTL", "ttl", ttl))
