"""The ``redis-janitor`` command line (see DESIGN.md for the contract and exit codes)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog
from rich.console import Console

from janitor import __version__
from janitor.config_view import render_config, settings_document
from janitor.connection import targets_from_settings
from janitor.errors import ExitCode, JanitorError
from janitor.errors import UsageError as JanitorUsageError
from janitor.headroom import HeadroomReport, measure_headroom
from janitor.inventory import InstanceScan, scan_instance
from janitor.logs import configure_logging, get_logger, new_run_id
from janitor.output import emit, print_error
from janitor.progress import scan_progress
from janitor.render_headroom import render_headroom, render_headroom_section
from janitor.render_text import render_report
from janitor.report import build_report
from janitor.settings import Settings, load_settings
from janitor.units import parse_duration

log = get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_requested_format: dict[str, str] = {"format": "text"}


@dataclass
class AppContext:
    """What every command starts from: effective settings, the run id and the output format."""

    settings: Settings
    run_id: str
    fmt: str


def _remember_format(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Note ``--format`` as soon as it is parsed, so even early errors come out as JSON."""
    _requested_format["format"] = value
    return value


def common_options(command: F) -> F:
    """Add ``--config``, ``--url`` (repeatable), ``--format`` and ``--log-level``."""
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path, dir_okay=False),
            help="TOML file [default: $JANITOR_CONFIG or /etc/redis-janitor/janitor.toml].",
        ),
        click.option(
            "--url",
            "urls",
            multiple=True,
            help="redis://, rediss:// or unix:// URL; repeat for several instances.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="json: one JSON document on stdout.",
            callback=_remember_format,
        ),
        click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error"]),
            help="Log level (logs go to stderr).",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def prepare(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    overrides: dict[str, Any] | None = None,
) -> AppContext:
    """Load settings (CLI flags on top), configure logging and bind a fresh run id."""
    _requested_format["format"] = fmt
    configure_logging()
    layered: dict[str, Any] = dict(overrides or {})
    layered.setdefault("redis", {})["urls"] = list(urls) or None
    layered.setdefault("logging", {})["level"] = log_level
    settings = load_settings(config_path, layered)
    configure_logging(settings.logging.level, settings.logging.format)
    run_id = new_run_id()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    return AppContext(settings=settings, run_id=run_id, fmt=fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="redis-janitor")
def cli() -> None:
    """Keep Redis able to BGSAVE: measure fork headroom, find and clean stale big keys."""


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
    targets = targets_from_settings(app.settings)
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
    for target in targets_from_settings(app.settings):
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


@cli.command()
@common_options
@click.option("--every", help="Run a cycle this often (e.g. 15m); overrides [service] cron/every.")
@click.option(
    "--metrics-textfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write Prometheus metrics here after every cycle [metrics.textfile].",
)
@click.option("--once", is_flag=True, help="Run one cycle now and exit with its code.")
def serve(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    every: str | None,
    metrics_textfile: Path | None,
    once: bool,
) -> int:
    """Daemon: run the cycle on a schedule (systemd Type=notify; SIGTERM stops cleanly)."""
    from janitor.service import Schedule, Service, run_once
    from janitor.service_run import scheduled_run_cycle as cycle

    app = prepare(config_path, urls, fmt, log_level, {"metrics": {"textfile": metrics_textfile}})
    every_seconds = _parse_cli_duration("--every", every)
    if once:
        return run_once(app, cycle, app.settings.metrics.textfile)
    schedule = Schedule.from_settings(app.settings, every_seconds)
    return Service(app, cycle, schedule, app.settings.metrics.textfile).run()


def _parse_cli_duration(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise JanitorUsageError(f"{flag}: {error}") from None
    if seconds <= 0:
        raise JanitorUsageError(f"{flag}: must be more than 0")
    return seconds


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map failures onto the exit-code contract."""
    configure_logging()  # until the settings are loaded: info and up, to stderr
    try:
        result = cli.main(args=argv, prog_name="redis-janitor", standalone_mode=False)
    except click.exceptions.UsageError as error:
        error.show()
        sys.exit(ExitCode.USAGE)
    except click.exceptions.Abort:
        sys.stderr.write("redis-janitor: aborted\n")
        sys.exit(ExitCode.CRITICAL)
    except JanitorError as error:
        print_error(error, _requested_format["format"])
        log.debug("command.failed", exit_code=int(error.exit_code), error=error.message)
        sys.exit(int(error.exit_code))
    except KeyboardInterrupt:
        sys.stderr.write("redis-janitor: interrupted\n")
        sys.exit(130)
    except Exception:
        log.exception("command.crashed")
        sys.stderr.write("redis-janitor: internal error (details in the log above)\n")
        sys.exit(ExitCode.CRITICAL)
    sys.exit(int(result) if isinstance(result, int) else 0)


# Commands defined in their own modules register themselves on ``cli`` when imported.
import janitor.cli_rescue  # noqa: E402
import janitor.cli_run  # noqa: E402, F401
