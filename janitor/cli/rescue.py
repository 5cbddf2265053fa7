"""The ``rescue`` command: bring back instances that refuse writes (MISCONF) after a failed save.

The steps are in ``janitor.app.rescue.procedure``; the real parts (headroom model, policy
freeing) are wired in ``janitor.app.rescue.run``.
"""

from __future__ import annotations

from pathlib import Path

import click

from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.info import read_persistence_state
from janitor.adapters.redis.lock import default_lock_dir, instance_lock
from janitor.app.headroom_meter import model_meter
from janitor.app.instance_loop import for_each_instance
from janitor.app.rescue import InstanceRescue, rescue_target
from janitor.app.rescue.result import rescue_document
from janitor.app.topology import expand_targets
from janitor.cli.group import cli, common_options, prepare
from janitor.cli.journal_lines import failure_noted
from janitor.cli.output import emit
from janitor.cli.progress import progress_board
from janitor.cli.render.rescue import render_rescue
from janitor.cli.rules import RuleFlags, require_consent, rule_options
from janitor.core.logs import get_logger

log = get_logger(__name__)


def _confirm_rescue(target: RedisTarget) -> None:
    """On a terminal: ask before changing an instance whose last save failed."""
    with redis_errors(target.display):
        failed = read_persistence_state(target.client()).last_bgsave_failed
    if failed:
        click.confirm(
            f"rescue {target.display}: lift the write block, free memory by policy, BGSAVE and put "
            "the settings back?",
            abort=True,
            err=True,
        )


@cli.command()
@common_options
@click.option("--dry-run", is_flag=True, help="Diagnose and show the first round; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask (required without a terminal).")
@rule_options
def rescue(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    dry_run: bool,
    yes: bool,
    rule_flags: RuleFlags,
) -> int:
    """Lift a MISCONF write block, free memory by policy, prove a BGSAVE, restore the settings.

    Exit 0 only when every instance accepts writes with its original settings after a
    successful save (or needed no rescue); 2 otherwise, saying what remains.
    """
    overrides = rule_flags.overrides()
    app = prepare(config_path, urls, fmt, log_level, overrides)
    ask = require_consent(dry_run, yes, "rescue")
    targets = expand_targets(app.settings, acting=True)
    meter = model_meter(targets, app.settings)
    lock_dir = default_lock_dir(app.settings)

    with progress_board(enabled=False if ask else None) as bar:

        def rescue_one(target: RedisTarget) -> InstanceRescue:
            if ask:
                _confirm_rescue(target)
            line = bar(f"scanning {target.display}")
            with line as progress, instance_lock(target, app.settings, lock_dir=lock_dir):
                return rescue_target(
                    target,
                    app.settings,
                    meter,
                    dry_run=dry_run,
                    run_id=app.run_id,
                    progress=progress,
                )

        done = for_each_instance(
            targets,
            app.settings,
            rescue_one,
            may_write=True,
            dry_run=dry_run,
            on_failure=failure_noted,
            workers=1 if ask else app.settings.scan.parallel_instances,  # one prompt at a time
        )
    done.raise_if_all_failed()
    rescues, failures, pending = done.results, done.failures, done.reverts
    document = rescue_document(rescues, failures, pending, app.run_id, dry_run)
    emit(document, app.fmt, render_rescue)
    log.info(
        "rescue.command_finished",
        dry_run=dry_run,
        actions=len(document["actions"]),
        freed_bytes=document["freed_bytes"],
        exit_code=document["exit_code"],
    )
    return int(document["exit_code"])
