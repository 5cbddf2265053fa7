"""The read-only commands: ``report``, ``headroom`` and ``config check``."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import structlog
from rich.console import Console

from janitor.app.context import AppContext
from janitor.app.headroom import HeadroomReport, measure_headroom
from janitor.app.inventory import InstanceScan, scan_instance
from janitor.app.report import build_report
from janitor.app.topology import expand_targets
from janitor.cli.group import cli, common_options, prepare
from janitor.cli.output import emit, print_error
from janitor.cli.progress import scan_progress
from janitor.cli.render.config import render_config, settings_document
from janitor.cli.render.headroom import render_headroom, render_headroom_section
from janitor.cli.render.report import render_report
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.logs import get_logger

log = get_logger(__name__)


@cli.command()
@common_options
@click.option("--top", type=click.IntRange(min=0), help="How many largest keys to list [50].")
@click.option("--match", help="Only keys matching this SCAN glob.")
@click.option("--type", "key_type", help="Only keys of this type (string, hash, list, ...).")
@click.option("--db", "dbs", type=int, multiple=True, help="Only this DB (repeatable).")
@click.option("--count", type=click.IntRange(min=1), help="SCAN COUNT hint [1000].")
@click.option("--samples", type=click.IntRange(min=0), help="MEMORY USAGE SAMPLES [5].")
@click.option("--pause", help="Pause between batches, e.g. 10ms (throttle).")
def report(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    top: int | None,
    match: str | None,
    key_type: str | None,
    dbs: tuple[int, ...],
    count: int | None,
    samples: int | None,
    pause: str | None,
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
                "type": key_type,
                "dbs": list(dbs) or None,
                "count": count,
                "samples": samples,
                "pause": pause,
            },
            "report": {"top": top},
        },
    )
    scans, failures = scan_all(app)
    document = build_report(scans, app.run_id, app.settings.report.top)
    with contextlib.suppress(JanitorError):  # unreachable instances are already in "errors"
        document["headroom"] = measure_all_headroom(app).to_dict()
        add_persistence(document)
    if failures:
        document["errors"] = [
            {"url": url, "exit_code": int(error.exit_code), "message": error.message}
            for url, error in failures
        ]
        for url, error in failures:
            print_error(error, None)
            log.error("instance.failed", instance=url, error=error.message)
    emit(document, app.fmt, render_report_with_headroom)
    return int(failures[0][1].exit_code) if failures else ExitCode.OK


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
        print_error(error, None)
        log.error("instance.failed", instance=url, error=error.message)
    emit(result.to_dict(), app.fmt, render_headroom)
    if result.errors:
        return int(result.errors[0][1].exit_code)
    return result.verdict.exit_code


def scan_all(app: AppContext) -> tuple[list[InstanceScan], list[tuple[str, JanitorError]]]:
    """Scan every configured instance; a failure is kept per instance unless all fail."""
    scans: list[InstanceScan] = []
    failures: list[tuple[str, JanitorError]] = []
    for target in expand_targets(app.settings):
        structlog.contextvars.bind_contextvars(instance=target.display)
        try:
            with scan_progress(f"scanning {target.display}") as progress:
                scans.append(scan_instance(target, app.settings, progress))
        except JanitorError as error:
            failures.append((target.display, error))
        finally:
            target.close()
    structlog.contextvars.unbind_contextvars("instance")
    if failures and not scans:
        raise failures[0][1]
    return scans, failures


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
