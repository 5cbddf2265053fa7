"""The ``history`` command: the recorded samples as text, JSON or CSV, with each forecast."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from janitor.app.forecast_view import forecast_entry
from janitor.app.history_recording import configured_margin, forecasts, load_history
from janitor.app.history_store import history_path
from janitor.app.report import SCHEMA_VERSION
from janitor.app.topology import expand_targets
from janitor.cli.group import cli, prepare, with_common_options
from janitor.cli.output import emit
from janitor.config.settings import Settings
from janitor.core.errors import ExitCode, UsageError
from janitor.core.logs import redact
from janitor.core.units import format_bytes, parse_duration
from janitor.domain.history import COLUMNS, Sample

TEXT_ROWS = 200


@cli.command()
@with_common_options(("text", "json", "csv"))
@click.option("--since", help="Only samples from this long ago on, e.g. 24h or 7d [all].")
def history(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    since: str | None,
) -> int:
    """Print the recorded samples (one per instance per measurement) and the forecasts."""
    app = prepare(config_path, urls, fmt, log_level)
    try:
        cutoff = time.time() - parse_duration(since) if since else None
    except ValueError as error:
        raise UsageError(f"--since: {error}") from None
    read = load_history(app.settings, cutoff)
    samples = read.samples
    if urls:
        targets = expand_targets(app.settings)
        wanted = {target.display for target in targets}
        for target in targets:
            target.close()
        samples = [sample for sample in samples if sample.instance in wanted]
    if fmt == "csv":
        sys.stdout.write(redact(samples_csv(samples)))
        return ExitCode.OK
    emit(history_document(app.settings, samples, read.skipped, read.problems), fmt, render_history)
    return ExitCode.OK


def history_document(
    settings: Settings, samples: list[Sample], skipped: int, problems: list[str]
) -> dict[str, Any]:
    """The ``history --format json`` document: samples oldest first, forecasts per instance."""
    margin = configured_margin(settings)
    found = forecasts(settings, dict.fromkeys((s.instance for s in samples), margin), samples)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "history",
        "path": str(history_path(settings)),
        "samples": [sample.to_dict() for sample in samples],
        "skipped_lines": skipped,
        "problems": problems,
        "forecasts": {url: forecast_entry(result) for url, result in found.items()},
    }


def samples_csv(samples: list[Sample]) -> str:
    """One CSV row per sample: the flat columns, then ``info`` as JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*COLUMNS, "info"])
    for sample in samples:
        row = sample.to_dict()
        writer.writerow(
            [*("" if row.get(c) is None else row[c] for c in COLUMNS), json.dumps(sample.info)]
        )
    return buffer.getvalue()


def render_history(document: Mapping[str, Any], console: Console) -> None:
    """Print the newest samples as a table, then the forecasts and any skipped lines."""
    samples = document["samples"]
    table = Table(title=f"History ({document['path']})", title_justify="left")
    for name in ("time (UTC)", "instance", "source", "used", "fork charge", "commit room"):
        table.add_column(name, justify="left" if name in ("instance", "source") else "right")
    for name in ("COW room", "to free", "freed", "keys", "verdict"):
        table.add_column(name, justify="right")
    for entry in samples[-TEXT_ROWS:]:
        table.add_row(
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["ts"])),
            Text(entry["instance"]),  # a unix socket path may hold markup characters
            entry["source"],
            *(_size(entry.get(name)) for name in ("used_memory", "fork_charge")),
            *(_size(entry.get(name)) for name in ("commit_headroom", "cow_headroom")),
            *(_size(entry.get(name)) for name in ("need_to_free", "freed_bytes")),
            str(entry.get("keys_acted", "-")),
            entry.get("verdict") or "-",
        )
    if not samples:
        console.print("No samples recorded yet (run headroom, report, run or serve first).")
        return
    console.print(table)
    for url, forecast in document["forecasts"].items():
        console.print(f"{url}: {forecast['message']}", markup=False, highlight=False)
    if document["skipped_lines"]:
        console.print(f"{document['skipped_lines']} damaged lines skipped", markup=False)


def _size(value: int | None) -> str:
    return "-" if value is None else format_bytes(value)
