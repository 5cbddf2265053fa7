"""The ``serve`` command: the scheduler daemon (systemd Type=notify)."""

from __future__ import annotations

from pathlib import Path

import click

from janitor.app.cleanup import scheduled_cleanup_cycle
from janitor.app.serve import Schedule, Service, run_once
from janitor.cli.group import cli, common_options, prepare
from janitor.core.errors import UsageError
from janitor.core.units import parse_duration


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
    app = prepare(config_path, urls, fmt, log_level, {"metrics": {"textfile": metrics_textfile}})
    every_seconds = _parse_cli_duration("--every", every)
    if once:
        return run_once(app, scheduled_cleanup_cycle, app.settings.metrics.textfile)
    schedule = Schedule.from_settings(app.settings, every_seconds)
    return Service(app, scheduled_cleanup_cycle, schedule, app.settings.metrics.textfile).run()


def _parse_cli_duration(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from None
    if seconds <= 0:
        raise UsageError(f"{flag}: must be more than 0")
    return seconds
