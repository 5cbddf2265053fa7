"""A run's scan that may span several runs: checkpoint, resume, re-judge carried candidates.

With ``scan.max_duration`` set, a run stops scanning at that time and saves where each DB's
SCAN stands plus the best candidates so far (``domain.scan_checkpoint``) in the state
directory; the next run on the same server resumes there. Carried candidates are probed again
and re-judged before the plan is made, so nothing is acted on from stale figures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from janitor.adapters.files.scan_state import load_checkpoint, save_checkpoint
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.lock import default_lock_dir, lock_file_name
from janitor.adapters.redis.scanner import KeyspaceScanner
from janitor.app.inventory import InstanceScan, scan_instance, scan_options
from janitor.config.settings import Settings
from janitor.core.logs import get_logger
from janitor.domain.keys import KeyRecord
from janitor.domain.planner import CandidateCollector
from janitor.domain.scan_checkpoint import ScanCheckpoint, coverage
from janitor.domain.scan_scope import ScanScope
from janitor.domain.server import ServerInfo

log = get_logger(__name__)
REJUDGE_BATCH = 50


def checkpoint_path(target: RedisTarget, settings: Settings) -> Path:
    """Where ``target``'s scan checkpoint lives (next to the lock files)."""
    name = lock_file_name(target.display).removesuffix(".lock")
    return default_lock_dir(settings).parent / "scans" / f"{name}.json"


@dataclass
class _Resume:
    """The ResumeHook: decides, once INFO is read, whether the saved pass goes on."""

    saved: ScanCheckpoint | None
    scope: ScanScope | None
    filters: tuple[str | None, str | None]
    deadline: float | None
    now: float
    checkpoint: ScanCheckpoint | None = None
    resumed: bool = False

    def begin(self, server: ServerInfo, dbs: list[int]) -> dict[int, int]:
        run_id = str(server.raw.get("run_id", ""))
        scope = json.dumps([dbs, self.filters, self.scope.__dict__ if self.scope else None])
        saved = self.saved
        if saved is not None and saved.resumable(run_id, scope):
            self.resumed = True
            self.checkpoint = saved
            return {db: cursor for db, cursor in saved.remaining.items() if db in dbs}
        last = saved.last_full_pass if saved is not None else None
        self.checkpoint = ScanCheckpoint(
            run_id, scope, self.now, {db: 0 for db in dbs}, 0, [], last
        )
        return dict(self.checkpoint.remaining)


def scan_for_run(
    target: RedisTarget,
    settings: Settings,
    progress: Callable[[int, int], None] | None,
    collector: CandidateCollector,
    scope: ScanScope,
    clock: Callable[[], float] = time.time,
    adjust: Callable[[KeyRecord], KeyRecord] | None = None,
) -> tuple[InstanceScan, dict[str, Any], list[str]]:
    """Scan (part of a pass) for a run; return the scan, the pass's coverage and warnings.

    ``adjust`` corrects each record before it is judged (the idle time the janitor's own touch
    reset, see ``adapters.files.touch_memory``).
    """

    def offer(record: KeyRecord) -> None:
        collector.offer(adjust(record) if adjust is not None else record)

    limit = settings.scan.max_duration
    if limit <= 0:
        scan = scan_instance(target, settings, progress, offer, scope)
        return scan, coverage(None, clock()), []
    path = checkpoint_path(target, settings)
    options = scan_options(settings, scope)
    hook = _Resume(
        load_checkpoint(path),
        scope,
        (options.match.decode(errors="replace") if options.match else None, options.type),
        time.monotonic() + limit,
        clock(),
    )
    scan = scan_instance(target, settings, progress, offer, scope, hook)
    checkpoint = hook.checkpoint
    assert checkpoint is not None
    if hook.resumed:
        rejudge(target, settings, scan.server, checkpoint.candidates, offer)
    checkpoint.keys_scanned += scan.scanned_keys
    checkpoint.remaining = scan.remaining
    checkpoint.candidates = [item.record for item in collector.candidates()]
    warnings = []
    if scan.remaining:
        warnings.append(
            f"the scan stopped at scan.max_duration ({limit:.0f}s); the pass resumes next run "
            f"({checkpoint.keys_scanned:,} keys scanned in it so far)"
        )
    else:
        checkpoint.last_full_pass = clock()
        checkpoint.candidates = []
    try:
        save_checkpoint(path, checkpoint)
    except OSError as error:
        warnings.append(f"scan checkpoint not saved ({error.strerror}): the next run starts over")
    figures = coverage(checkpoint, clock())
    log.info("scan.pass", resumed=hook.resumed, **figures)
    return scan, figures, warnings


def rejudge(
    target: RedisTarget,
    settings: Settings,
    server: ServerInfo,
    carried: list[KeyRecord],
    offer: Callable[[KeyRecord], None],
) -> None:
    """Probe the carried candidates again and offer the fresh records (vanished keys drop)."""
    scanner = KeyspaceScanner(target.client, server.idle_metric, scan_options(settings, None))
    by_db: dict[int, list[bytes]] = {}
    for record in carried:
        by_db.setdefault(record.db, []).append(record.key)
    with redis_errors(target.display):
        for db, keys in by_db.items():
            client = target.client(db)
            for start in range(0, len(keys), REJUDGE_BATCH):
                for record in scanner.probe(client, db, keys[start : start + REJUDGE_BATCH]):
                    offer(record)
    log.info("scan.rejudged", carried=len(carried))
