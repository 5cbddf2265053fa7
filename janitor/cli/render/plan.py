"""What a plan will do, said before it is done: its scope (caps, time) and a preview for the
terminal prompt (largest planned keys, totals per rule)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from janitor.cli.render.fit import print_table
from janitor.core.keynames import escape_key
from janitor.core.units import format_bytes, format_duration
from janitor.domain.planner import Plan

PREVIEW_KEYS = 10


def scope_line(summary: Mapping[str, Any]) -> str:
    """``acting on 10,000 of 100,000 matching keys: policy.max_keys; ~50s at 200 actions/s``."""
    planned, matching = summary["planned_actions"], summary["matching_keys"]
    text = f"acting on {planned:,} of {matching:,} matching keys"
    caps = [f"policy.{name}" for name, count in summary["left_out"].items() if count]
    if caps:
        text += ": " + ", ".join(caps)
    elif planned < matching and summary["goal"] == "headroom":
        text += ": goal headroom needs no more"
    rate = summary["actions_per_second"]
    if planned and rate:
        seconds = summary["estimated_seconds"]
        took = "under 1s" if seconds < 1 else f"~{format_duration(seconds)}"
        text += f"; {took} at {rate:,g} actions/s"
    return text


def largest_keys_table(plan: Plan, rows: int = PREVIEW_KEYS) -> Table:
    """The ``rows`` largest planned keys."""
    largest = sorted(plan.actions, key=lambda item: -item.record.size_bytes)[:rows]
    table = Table(title=f"Largest planned keys ({len(largest)} of {len(plan.actions):,})")
    table.title_justify = "left"
    for name in ("db", "key", "action", "rule", "bytes"):
        table.add_column(name, justify="right" if name in ("db", "bytes") else "left")
    for item in largest:
        table.add_row(
            str(item.record.db),
            Text(escape_key(item.record.key)),
            item.action,
            Text(item.rule),
            format_bytes(item.record.size_bytes),
        )
    return table


def rule_totals_table(plan: Plan) -> Table:
    """Keys and bytes planned per rule and action."""
    table = Table(title="Per rule", title_justify="left")
    for name in ("rule", "action", "keys", "bytes"):
        table.add_column(name, justify="right" if name in ("keys", "bytes") else "left")
    for rule, action, keys, size in plan.rule_totals():
        table.add_row(Text(rule), action, f"{keys:,}", format_bytes(size))
    return table


def render_plan_preview(plan: Plan, console: Console, instance: str | None = None) -> None:
    """What the prompt shows before asking: largest keys, totals per rule, scope and caps."""
    if instance:
        console.print(Text(f"plan for {instance}:"))
    print_table(console, largest_keys_table(plan), lead=1)
    print_table(console, rule_totals_table(plan))
    console.print(Text(scope_line(plan.summary())))
