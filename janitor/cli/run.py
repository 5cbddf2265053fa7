"""The ``run`` and ``restore`` commands."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from janitor.adapters.prometheus import publish_textfile
from janitor.app.cleanup import Cleanup, CleanupRequest, run_cleanup
from janitor.app.forecast_view import add_run_forecasts, record_passes
from janitor.app.restore import restore_archives
from janitor.app.topology import expand_targets
from janitor.cli.group import cli, common_options, prepare
from janitor.cli.journal_lines import failure_noted
from janitor.cli.output import emit
from janitor.cli.progress import progress_board
from janitor.cli.render.plan import render_plan_preview
from janitor.cli.render.rescue import render_run_with_rescue
from janitor.cli.render.run import render_restore
from janitor.cli.rules import RuleFlags, require_consent, rule_options
from janitor.core.errors import ExitCode, JanitorError, UsageError
from janitor.core.logs import get_logger
from janitor.core.units import format_bytes
from janitor.domain.planner import Plan

log = get_logger(__name__)


def _confirm_plan(plan: Plan) -> None:
    """On a terminal: show what the plan does (largest keys, per rule, caps, time), then ask."""
    render_plan_preview(plan, Console(stderr=True))
    click.confirm(
        f"{len(plan.actions):,} actions on {format_bytes(plan.planned_bytes)} planned; go ahead?",
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
    """One pass per instance: headroom → scan → plan → act (expire/archive/delete) → headroom."""
    overrides = rule_flags.overrides(goal)
    overrides["metrics"] = {"textfile": metrics_textfile}
    app = prepare(config_path, urls, fmt, log_level, overrides)
    ask = require_consent(dry_run, yes, "run")
    with progress_board(enabled=False if ask else None) as bar:
        request = CleanupRequest(
            dry_run=dry_run,
            confirm=_confirm_plan if ask else None,
            progress=None if ask else (lambda name: bar(f"scanning {name}")),
            on_failure=failure_noted,
            workers=1 if ask else app.settings.scan.parallel_instances,  # one prompt at a time
        )
        cleanup = run_cleanup(app, request)
    forecasts = record_passes(app.settings, "run", cleanup.instances.results, cleanup.metrics)
    if app.settings.metrics.textfile is not None and not dry_run:
        _publish_metrics(app.settings.metrics.textfile, cleanup)
    if not cleanup.misconf.found:
        cleanup.instances.raise_if_all_failed()
    document = cleanup.document(app.run_id, dry_run)
    add_run_forecasts(document, forecasts)
    emit(document, app.fmt, render_run_with_rescue)
    code = cleanup.exit_code
    log.info(
        "run.finished",
        dry_run=dry_run,
        actions=len(document["actions"]),
        freed_bytes=document["freed_bytes"],
        exit_code=code,
    )
    return code


def _publish_metrics(textfile: Path, cleanup: Cleanup) -> None:
    """Write the metrics textfile; a failure is reported beside the result, never instead."""
    try:
        publish_textfile(textfile, cleanup.metrics)
    except (OSError, JanitorError) as error:
        message = error.message if isinstance(error, JanitorError) else str(error)
        failure = JanitorError(f"metrics textfile {textfile} could not be written: {message}")
        cleanup.instances.failures.append(("metrics", failure))
        log.error("metrics.write_failed", error=failure.message)
        failure_noted(failure)


@cli.command()
@common_options
@click.argument("archive", type=click.Path(path_type=Path, exists=True))
@click.option("--match", multiple=True, help="Only keys matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Leave out keys matching this glob (repeatable).")
@click.option("--replace", is_flag=True, help="Overwrite keys that exist.")
@click.option("--dry-run", is_flag=True, help="Say what would be restored; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask (required without a terminal).")
def restore(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    archive: Path,
    match: tuple[str, ...],
    exclude: tuple[str, ...],
    replace: bool,
    dry_run: bool,
    yes: bool,
) -> int:
    """Put archived keys back (an archive file or a directory of them)."""
    app = prepare(config_path, urls, fmt, log_level)
    ask = require_consent(dry_run, yes, "restore")
    targets = expand_targets(app.settings, acting=True)
    one_cluster = len(app.settings.redis.urls) == 1 and all(t.cluster for t in targets)
    if len(targets) != 1 and not one_cluster:
        raise UsageError("restore needs exactly one --url (or one configured URL)")
    target = targets[0]  # in a cluster, any primary: each key is sent on to its slot's owner
    for other in targets[1:]:
        other.close()
    if ask:
        click.confirm(f"restore {archive} into {target.display}?", abort=True, err=True)
    try:
        summary = restore_archives(
            target, archive, match=match, exclude=exclude, replace=replace, dry_run=dry_run
        )
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
