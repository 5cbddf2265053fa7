"""The ``run`` and ``restore`` commands, registered on the ``redis-janitor`` group (cli.py)."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
import structlog

from janitor.cli import cli, common_options, prepare
from janitor.connection import targets_from_settings
from janitor.cycle import CycleOptions, CycleResult
from janitor.errors import ExitCode, JanitorError, UsageError
from janitor.headroom_meter import model_meter, model_predictor
from janitor.locking import default_lock_dir
from janitor.logs import get_logger
from janitor.metrics import CycleMetrics, publish_textfile
from janitor.output import emit, print_error
from janitor.planner import Plan
from janitor.progress import scan_progress
from janitor.restore import restore_archives
from janitor.run_output import render_restore, render_run, run_document, run_exit_code
from janitor.service_run import cycle_metrics, locked_cycle
from janitor.units import format_bytes, parse_duration, parse_size

log = get_logger(__name__)


def _parsed(parse: Any, flag: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from None


def adhoc_policy(
    match: tuple[str, ...],
    min_size: str | None,
    min_idle: str | None,
    key_types: tuple[str, ...],
    action: str | None,
    expire_in: str | None,
    goal: str | None,
) -> dict[str, Any]:
    """The ``policy`` overrides for ad-hoc rule flags (empty when none are given)."""
    filters_given = bool(match or min_size or min_idle or key_types or expire_in)
    if action is None:
        if filters_given:
            raise UsageError("ad-hoc rule flags need --action expire|archive|delete")
        return {"goal": goal}
    if not match:
        raise UsageError("--action needs --match GLOB (use --match '*' to mean every key)")
    if (action == "expire") != (expire_in is not None):
        raise UsageError("--expire-in goes with --action expire, and --action expire needs it")
    rule: dict[str, Any] = {
        "name": "command-line",
        "match": list(match),
        "min_size": _parsed(parse_size, "--min-size", min_size),
        "min_idle": _parsed(parse_duration, "--min-idle", min_idle),
        "types": list(key_types) or None,
        "action": action,
        "expire_in": _parsed(parse_duration, "--expire-in", expire_in),
    }
    return {"rules": [{k: v for k, v in rule.items() if v is not None}], "goal": goal or "all"}


def _require_consent(dry_run: bool, yes: bool, what: str) -> bool:
    """True when the operator must confirm on the terminal; exit 64 without one (and no --yes)."""
    if dry_run or yes:
        return False
    if not sys.stdin.isatty():
        raise UsageError(f"{what} changes data: without a terminal pass --yes (or --dry-run)")
    return True


def _confirm_plan(plan: Plan) -> None:
    click.confirm(
        f"{len(plan.actions)} actions on {format_bytes(plan.planned_bytes)} planned; go ahead?",
        abort=True,
        err=True,
    )


@cli.command()
@common_options
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask (required without a terminal).")
@click.option("--goal", type=click.Choice(["headroom", "all"]), help="Override policy.goal.")
@click.option("--match", multiple=True, help="Ad-hoc rule: key glob (repeatable).")
@click.option("--min-size", help="Ad-hoc rule: at least this size, e.g. 1MiB.")
@click.option("--min-idle", help="Ad-hoc rule: idle at least this long, e.g. 30d.")
@click.option("--type", "key_types", multiple=True, help="Ad-hoc rule: only this type.")
@click.option("--action", type=click.Choice(["expire", "archive", "delete"]), help="Ad-hoc rule.")
@click.option("--expire-in", help="Ad-hoc rule: TTL for --action expire, e.g. 1d.")
@click.option("--archive-dir", type=click.Path(path_type=Path), help="Override archive.dir.")
@click.option("--db", "dbs", type=int, multiple=True, help="Only this DB (repeatable).")
@click.option(
    "--metrics-textfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write Prometheus metrics here after the run [metrics.textfile].",
)
def run(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    dry_run: bool,
    yes: bool,
    goal: str | None,
    match: tuple[str, ...],
    min_size: str | None,
    min_idle: str | None,
    key_types: tuple[str, ...],
    action: str | None,
    expire_in: str | None,
    archive_dir: Path | None,
    dbs: tuple[int, ...],
    metrics_textfile: Path | None,
) -> int:
    """One cycle: headroom → scan → plan → act (expire/archive/delete) → headroom again."""
    policy = adhoc_policy(match, min_size, min_idle, key_types, action, expire_in, goal)
    overrides = {
        "policy": policy,
        "archive": {"dir": archive_dir},
        "scan": {"dbs": list(dbs) or None},
        "metrics": {"textfile": metrics_textfile},
    }
    app = prepare(config_path, urls, fmt, log_level, overrides)
    ask = _require_consent(dry_run, yes, "run")
    results: list[CycleResult] = []
    failures: list[tuple[str, JanitorError]] = []
    targets = targets_from_settings(app.settings)
    meter = model_meter(targets, app.settings)
    lock_dir = default_lock_dir(app.settings)
    metrics: list[CycleMetrics] = []
    for target in targets:
        started = time.monotonic()
        structlog.contextvars.bind_contextvars(instance=target.display)
        options = CycleOptions(
            dry_run=dry_run, run_id=app.run_id, meter=meter, predictor=model_predictor
        )
        options.confirm = _confirm_plan if ask else None
        try:
            bar = nullcontext(None) if ask else scan_progress(f"scanning {target.display}")
            with bar as progress:
                options.progress = progress
                results.append(locked_cycle(target, app.settings, options, lock_dir))
            metrics.append(cycle_metrics(target, started, results[-1]))
        except JanitorError as error:
            failures.append((target.display, error))
            if error.exit_code != ExitCode.LOCKED:
                metrics.append(cycle_metrics(target, started, None))
            print_error(error, None)
            log.error("instance.failed", error=error.message)
        finally:
            target.close()
    structlog.contextvars.unbind_contextvars("instance")
    if app.settings.metrics.textfile is not None and not dry_run:
        publish_textfile(app.settings.metrics.textfile, metrics)
    if failures and not results:
        raise failures[0][1]
    document = run_document(results, failures, app.run_id, dry_run)
    emit(document, app.fmt, render_run)
    code = run_exit_code(results, failures)
    log.info(
        "run.finished",
        dry_run=dry_run,
        actions=len(document["actions"]),
        freed_bytes=document["freed_bytes"],
        exit_code=code,
    )
    return code


@cli.command()
@common_options
@click.argument("archive", type=click.Path(path_type=Path, exists=True))
@click.option("--match", help="Only keys matching this glob.")
@click.option("--replace", is_flag=True, help="Overwrite keys that exist.")
@click.option("--dry-run", is_flag=True, help="Say what would be restored; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask (required without a terminal).")
def restore(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    archive: Path,
    match: str | None,
    replace: bool,
    dry_run: bool,
    yes: bool,
) -> int:
    """Put archived keys back (an archive file or a directory of them)."""
    app = prepare(config_path, urls, fmt, log_level)
    ask = _require_consent(dry_run, yes, "restore")
    targets = targets_from_settings(app.settings)
    if len(targets) != 1:
        raise UsageError("restore needs exactly one --url (or one configured URL)")
    target = targets[0]
    if ask:
        click.confirm(f"restore {archive} into {target.display}?", abort=True, err=True)
    try:
        summary = restore_archives(target, archive, match=match, replace=replace, dry_run=dry_run)
    finally:
        target.close()
    emit({"schema_version": 1, **summary.to_dict()}, app.fmt, render_restore)
    log.info(
        "restore.finished",
        restored=summary.restored,
        skipped=summary.skipped,
        failed=summary.failed,
        dry_run=dry_run,
    )
    if summary.failed or summary.damaged_files:
        return ExitCode.CRITICAL
    return ExitCode.OK
