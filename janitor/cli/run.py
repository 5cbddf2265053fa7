"""The ``run`` and ``restore`` commands, registered on the ``redis-janitor`` group (cli.py)."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

import click
import structlog

from janitor.adapters.prometheus import PassMetrics, publish_textfile
from janitor.adapters.redis.lock import default_lock_dir, instance_lock
from janitor.app.headroom_meter import model_meter, model_predictor
from janitor.app.instance_pass import PassOptions, PassResult
from janitor.app.locked_pass import locked_pass, pass_metrics
from janitor.app.rescue.gate import MisconfHandling
from janitor.app.rescue.run import finish_pending
from janitor.app.restore import restore_archives
from janitor.app.run_result import run_document, run_exit_code
from janitor.app.topology import expand_targets
from janitor.cli.group import cli, common_options, prepare
from janitor.cli.output import emit, print_error
from janitor.cli.progress import scan_progress
from janitor.cli.render.rescue import render_run_with_rescue
from janitor.cli.render.run import render_restore
from janitor.cli.rules import RuleFlags, require_consent, rule_options
from janitor.core.errors import ExitCode, JanitorError, UsageError
from janitor.core.logs import get_logger
from janitor.core.units import format_bytes
from janitor.domain.planner import Plan

log = get_logger(__name__)


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
@rule_options
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
    rule_flags: RuleFlags,
    metrics_textfile: Path | None,
) -> int:
    """One cycle: headroom → scan → plan → act (expire/archive/delete) → headroom again."""
    overrides = rule_flags.overrides(goal)
    overrides["metrics"] = {"textfile": metrics_textfile}
    app = prepare(config_path, urls, fmt, log_level, overrides)
    ask = require_consent(dry_run, yes, "run")
    results: list[PassResult] = []
    failures: list[tuple[str, JanitorError]] = []
    targets = expand_targets(app.settings, acting=True)
    pending = finish_pending(targets, app.settings.rescue.state_dir, dry_run=dry_run)
    misconf = MisconfHandling(
        app.settings, app.run_id, dry_run, on_refused=lambda error: print_error(error, None)
    )
    meter = model_meter(targets, app.settings)
    lock_dir = default_lock_dir(app.settings)
    metrics: list[PassMetrics] = []
    for target in targets:
        started = time.monotonic()
        structlog.contextvars.bind_contextvars(instance=target.display)
        options = PassOptions(
            dry_run=dry_run, run_id=app.run_id, meter=meter, predictor=model_predictor
        )
        options.confirm = _confirm_plan if ask else None
        try:
            with instance_lock(target, app.settings, lock_dir=lock_dir):
                refused = misconf.handled(target, meter)
            if refused:
                continue
            bar = nullcontext(None) if ask else scan_progress(f"scanning {target.display}")
            with bar as progress:
                options.progress = progress
                results.append(locked_pass(target, app.settings, options, lock_dir))
            metrics.append(pass_metrics(target, started, results[-1]))
        except JanitorError as error:
            failures.append((target.display, error))
            if error.exit_code != ExitCode.LOCKED:
                metrics.append(pass_metrics(target, started, None))
            print_error(error, None)
            log.error("instance.failed", error=error.message)
        finally:
            target.close()
    structlog.contextvars.unbind_contextvars("instance")
    if app.settings.metrics.textfile is not None and not dry_run:
        publish_textfile(app.settings.metrics.textfile, metrics)
    if failures and not results and not misconf.found:
        raise failures[0][1]
    document = run_document(results, failures + misconf.failures, app.run_id, dry_run)
    misconf.add_to(document, pending)
    emit(document, app.fmt, render_run_with_rescue)
    code = max(run_exit_code(results, failures + misconf.failures), misconf.exit_code)
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
    ask = require_consent(dry_run, yes, "restore")
    targets = expand_targets(app.settings, acting=True)
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
