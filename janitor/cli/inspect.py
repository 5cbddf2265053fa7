"""The read-only commands: ``report``, ``headroom`` and ``config check``."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.context import AppContext
from janitor.app.exit_codes import first_failure_or_ok
from janitor.app.forecast_view import headroom_with_history
from janitor.app.headroom import HeadroomReport, Verdict, measure_headroom
from janitor.app.instance_loop import for_each_instance
from janitor.app.inventory import InstanceScan, scan_instance
from janitor.app.report import build_report
from janitor.app.topology import expand_targets
from janitor.cli.group import cli, common_options, prepare, with_common_options
from janitor.cli.journal_lines import failure_noted, instance_failed
from janitor.cli.output import emit
from janitor.cli.progress import progress_board
from janitor.cli.render.config import render_config, settings_document
from janitor.cli.render.headroom import render_headroom, render_headroom_section
from janitor.cli.render.report import render_report
from janitor.cli.report_files import write_report_file
from janitor.cli.rules import DB_INDEX
from janitor.core.errors import ExitCode, JanitorError, UsageError
from janitor.core.logs import get_logger

log = get_logger(__name__)


@cli.command()
@with_common_options(("text", "json", "html", "csv"))
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="html/csv: write here instead of stdout.",
)
@click.option("--top", type=click.IntRange(min=0), help="How many largest keys to list [50].")
@click.option("--match", multiple=True, help="Only keys matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Leave out keys matching this glob (repeatable).")
@click.option("--type", "key_type", help="Only keys of this type (string, hash, list, ...).")
@click.option("--db", "dbs", type=DB_INDEX, multiple=True, help="Only this DB (repeatable).")
@click.option("--count", type=click.IntRange(min=1), help="SCAN COUNT hint [1000].")
@click.option("--samples", type=click.IntRange(min=0), help="MEMORY USAGE SAMPLES [5].")
@click.option("--pause", help="Pause between batches, e.g. 10ms (throttle).")
@click.option(
    "--sample",
    type=click.FloatRange(min=0, max=1, min_open=True),
    help="Estimate type/idle/TTL tables from this share of keys, e.g. 0.05 [1].",
)
def report(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    output: Path | None,
    top: int | None,
    match: tuple[str, ...],
    exclude: tuple[str, ...],
    key_type: str | None,
    dbs: tuple[int, ...],
    count: int | None,
    samples: int | None,
    pause: str | None,
    sample: float | None,
) -> int:
    """Dry run: scan and report the keyspace; changes nothing."""
    app = prepare(
        config_path,
        urls,
        fmt,
        log_level,
        {
            "scan": {
                "match": match,
                "exclude": exclude,
                "type": key_type,
                "dbs": list(dbs) or None,
                "count": count,
                "samples": samples,
                "pause": pause,
            },
            "report": {"top": top, "sample": sample},
        },
    )
    if fmt in ("html", "csv"):
        return write_report_file(app, fmt, output)
    if output is not None:
        raise UsageError("--output: only with --format html or csv")
    scans, failures = scan_all(app)
    document = build_report(scans, app.run_id, app.settings.report.top)
    with contextlib.suppress(JanitorError):  # unreachable instances are already in "errors"
        document["headroom"] = headroom_with_history(
            measure_all_headroom(app), app.settings, "report"
        )
        add_persistence(document)
    if failures:
        document["errors"] = [
            {"url": url, "exit_code": int(error.exit_code), "message": error.message}
            for url, error in failures
        ]
        for _url, error in failures:
            failure_noted(error)
    emit(document, app.fmt, render_report_with_headroom)
    return first_failure_or_ok(failures)


def add_persistence(document: dict[str, Any]) -> None:
    """Copy each instance's ``persistence`` section from the headroom part into the report's."""
    sections = {entry["url"]: entry["persistence"] for entry in document["headroom"]["instances"]}
    for entry in document["instances"]:
        entry["persistence"] = sections.get(entry["url"])


def render_report_with_headroom(document: Mapping[str, Any], console: Console) -> None:
    """The report's text, followed by its headroom section."""
    render_report(document, console)
    if "headroom" in document:
        render_headroom_section(document["headroom"], console)


def measure_all_headroom(app: AppContext) -> HeadroomReport:
    """Measure fork headroom of every configured instance (raises when none answered)."""
    targets = expand_targets(app.settings)
    try:
        return measure_headroom(targets, app.settings)
    finally:
        for target in targets:
            target.close()


@cli.command()
@common_options
def headroom(
    config_path: Path | None, urls: tuple[str, ...], fmt: str, log_level: str | None
) -> int:
    """Measure fork headroom only; exit 0 ok, 1 warn, 2 critical."""
    app = prepare(config_path, urls, fmt, log_level)
    result = measure_all_headroom(app)
    for url, error in result.errors:
        instance_failed(error, instance=url)
    document = headroom_with_history(result, app.settings, "headroom")
    emit(document, app.fmt, render_headroom)
    if result.errors:
        return int(result.errors[0][1].exit_code)
    return Verdict(document["verdict"]).exit_code


def scan_all(app: AppContext) -> tuple[list[InstanceScan], list[tuple[str, JanitorError]]]:
    """Scan every configured instance (``scan.parallel_instances`` side by side); a failure is
    kept per instance unless all fail."""
    targets = expand_targets(app.settings)
    with progress_board() as bar:

        def scan(target: RedisTarget) -> InstanceScan:
            with bar(f"scanning {target.display}") as progress:
                return scan_instance(target, app.settings, progress)

        workers = app.settings.scan.parallel_instances
        done = for_each_instance(targets, app.settings, scan, may_write=False, workers=workers)
    done.raise_if_all_failed()
    return done.results, done.failures


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@common_options
def config_check(
    config_path: Path | None, urls: tuple[str, ...], fmt: str, log_level: str | None
) -> int:
    """Validate the configuration and print it with secrets masked (exit 78 when invalid)."""
    app = prepare(config_path, urls, fmt, log_level)
    emit(settings_document(app.settings), app.fmt, render_config)
    return ExitCode.OK
