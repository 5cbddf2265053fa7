"""One pass on one instance: headroom before → scan → plan → act → purge → settle → after.

Headroom is measured through a :data:`HeadroomMeter` given by the caller (the seam where the
fork-headroom model plugs in); :func:`info_headroom_meter` is a placeholder reading INFO only.
Only judged candidates are kept while scanning (bounded by ``policy.max_candidates``), never
every record. ``freed_bytes`` is *measured*: INFO used_memory before the actions minus after
the allocator settled — not the sum of the bytes the plan expected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from janitor.adapters.files.archive import ArchiveWriter, ensure_private_dir
from janitor.adapters.files.touch_memory import TouchMemory
from janitor.adapters.redis import writer
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.key_actions import (
    ActionHooks,
    ActionOutcome,
    KeyActor,
    needs_archive,
)
from janitor.app.parallel import note_changes, wait_for_turn
from janitor.app.parallel import stop_reason as loop_stop_reason
from janitor.app.resumable_scan import scan_for_run
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.core.logs import get_logger
from janitor.domain.planner import CandidateCollector, Plan, make_plan
from janitor.domain.scan_scope import scan_scope
from janitor.domain.server import IdleMetric, ServerInfo

log = get_logger(__name__)
SETTLE_POLL_SECONDS = 0.1
SETTLE_TOLERANCE_BYTES = 64 * 1024


@dataclass(frozen=True)
class HeadroomSnapshot:
    """A headroom measurement: the JSON document, the verdict and how much must be freed.

    ``detail`` carries the meter's own object (e.g. the model's per-instance result) for a
    Predictor; the pass never looks inside it. ``host`` is the host section of the headroom
    document, when the meter measured the host.
    """

    document: dict[str, Any]
    verdict: str
    need_to_free_bytes: int
    detail: Any = field(default=None, compare=False, repr=False)
    host: dict[str, Any] | None = field(default=None, compare=False)


HeadroomMeter = Callable[[RedisTarget], HeadroomSnapshot]
Predictor = Callable[[HeadroomSnapshot, int], dict[str, Any] | None]
"""Given the "before" snapshot and the bytes actually removed (done delete/archive actions),
return the model's expected "after" figures (shown next to the measured ones)."""
Confirm = Callable[[Plan], None]


def _memory_info(target: RedisTarget) -> dict[str, Any]:
    with redis_errors(target.display):
        info: dict[str, Any] = target.client(target.url_db or 0).info("memory")
    return info


def info_headroom_meter(target: RedisTarget) -> HeadroomSnapshot:
    """Placeholder meter: INFO used_memory / used_memory_rss, verdict ok, nothing to free."""
    info = _memory_info(target)
    document = {
        "instance": target.display,
        "source": "info",
        "used_memory_bytes": int(info.get("used_memory", 0)),
        "used_memory_rss_bytes": int(info.get("used_memory_rss", 0)),
        "verdict": "ok",
        "need_to_free_bytes": 0,
    }
    return HeadroomSnapshot(document=document, verdict="ok", need_to_free_bytes=0)


@dataclass
class PassResult:
    """What one pass did on one instance."""

    instance: str
    dry_run: bool
    before: HeadroomSnapshot
    after: HeadroomSnapshot
    plan: Plan
    outcomes: list[ActionOutcome]
    freed_bytes: int
    settled: bool
    scanned_keys: int | None = None
    prediction: dict[str, Any] | None = None
    archive_file: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: JanitorError | None = None
    """A failure after the actions ran (measuring after, releasing the lock): reported beside
    the actions, never instead of them."""

    def failed_after_acting(self, what: str, error: JanitorError) -> None:
        """Record a failure that came after the actions (the first one wins)."""
        hint = {"hint": error.hint} if error.hint else {}
        log.error("run.failed_after_acting", what=what, error=error.message, **hint)
        if self.error is None:
            self.error = JanitorError(what, hint=error.hint)
            self.error.exit_code = error.exit_code

    errors: list[str] = field(default_factory=list)
    """Failures beside the per-key results (an unwritable archive): top-level ``errors``."""
    scan_coverage: dict[str, Any] | None = None
    node: dict[str, str | None] = field(default_factory=dict)
    """The node identity (role, cluster node id, shard, the URL given)."""

    def count(self, result: str) -> int:
        """How many actions ended with ``result`` (done/skipped/failed/planned)."""
        return sum(1 for outcome in self.outcomes if outcome.result == result)

    def to_dict(self) -> dict[str, Any]:
        """The per-instance part of the ``run`` JSON document."""
        return {
            "instance": self.instance,
            "node": self.node,
            "dry_run": self.dry_run,
            "plan": self.plan.summary(),
            "scanned_keys": self.scanned_keys,
            "results": {name: self.count(name) for name in ("done", "skipped", "failed")},
            "freed_bytes": self.freed_bytes,
            "removed_bytes": removed_bytes(self.outcomes),
            "settled": self.settled,
            "prediction": self.prediction,
            "archive_file": self.archive_file,
            "warnings": self.warnings,
            "error": self.error.message if self.error is not None else None,
            "scan_coverage": self.scan_coverage,
        }


@dataclass
class PassOptions:
    """How to run the pass; everything but ``dry_run`` has a safe default."""

    dry_run: bool
    run_id: str
    goal: str | None = None
    meter: HeadroomMeter = info_headroom_meter
    predictor: Predictor | None = None
    confirm: Confirm | None = None
    hooks: ActionHooks | None = None
    progress: Callable[[int, int], None] | None = None
    should_stop: Callable[[], str | None] | None = None
    """Asked before every action; a reason (stop requested, lock lost) ends the acting there."""
    clock: Callable[[], float] = time.time
    touches: TouchMemory | None = None
    """Idle time the janitor's own DUMP reset (Redis < 7.2), remembered across runs."""
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass
class _Candidates:
    """What the scan of a pass kept: judged candidates, warnings, coverage."""

    collector: CandidateCollector
    warnings: list[str]
    scanned_keys: int
    coverage: dict[str, Any]


def _scan_candidates(target: RedisTarget, settings: Settings, options: PassOptions) -> _Candidates:
    """Scan ``target`` keeping only judged candidates (sizes first: ``scan_scope``)."""
    collector = CandidateCollector(settings.policy)
    now = options.clock()
    touches = options.touches
    scan, coverage, pass_warnings = scan_for_run(
        target,
        settings,
        options.progress,
        collector,
        scan_scope(settings.policy),
        adjust=(lambda record: touches.adjust(record, now)) if touches is not None else None,
    )
    warnings = list(scan.warnings) + pass_warnings
    if scan.idle_metric is IdleMetric.FREQ and any(r.min_idle for r in settings.policy.rules):
        warnings.append("rules with min_idle never match here (LFU: use max_freq)")
    if collector.dropped:
        warnings.append(f"{collector.dropped} lower-scored candidates over max_candidates ignored")
    return _Candidates(collector, warnings, scan.scanned_keys, coverage)


def _plan(
    found: _Candidates, settings: Settings, options: PassOptions, need_to_free_bytes: int
) -> Plan:
    plan = make_plan(
        found.collector.candidates(),
        settings.policy,
        need_to_free_bytes,
        options.clock(),
        options.goal,
    )
    plan.beyond_max_candidates = found.collector.dropped
    log.info("plan.made", **plan.summary())
    return plan


def _needs_no_scan(goal: str, before: HeadroomSnapshot) -> bool:
    return goal == "headroom" and before.need_to_free_bytes <= 0


def run_pass(target: RedisTarget, settings: Settings, options: PassOptions) -> PassResult:
    """Run one pass on ``target``; ``options.dry_run`` sends no command that changes anything.

    Side by side with other instances (``janitor.app.parallel``) the scan runs at once and the
    rest waits for this instance's turn; when an earlier instance changed something meanwhile,
    headroom is measured again before planning (they share the host's limits).
    """
    before = options.meter(target)
    log.info("headroom.before", verdict=before.verdict, need=before.need_to_free_bytes)
    goal = options.goal or settings.policy.goal
    found = None if _needs_no_scan(goal, before) else _scan_candidates(target, settings, options)
    if wait_for_turn():
        before = options.meter(target)
        log.info("headroom.before_turn", verdict=before.verdict, need=before.need_to_free_bytes)
        if found is None and not _needs_no_scan(goal, before):
            found = _scan_candidates(target, settings, options)
    if found is None or _needs_no_scan(goal, before):
        plan = make_plan([], settings.policy, 0, options.clock(), goal)
        warnings = ["headroom is fine: nothing to free, the keyspace was not scanned"]
        if found is not None:
            warnings = ["headroom is fine after the instances before it acted: nothing to free"]
        scanned_keys, coverage = (found.scanned_keys, found.coverage) if found else (None, None)
    else:
        plan = _plan(found, settings, options, before.need_to_free_bytes)
        warnings, scanned_keys, coverage = found.warnings, found.scanned_keys, found.coverage
    if plan.actions and not options.dry_run and options.confirm is not None:
        options.confirm(plan)
    used_before = int(_memory_info(target).get("used_memory", 0))
    server = _server_info(target)
    archive = _archive_writer(target, settings, options, plan, server)
    actor = KeyActor(
        target,
        server,
        archive,
        settings.archive.max_payload_bytes,
        settings.scan.samples,
        options.hooks,
        options.clock,
        lfu_safety_copy=settings.archive.lfu_safety_copy,
        touches=options.touches,
    )
    try:
        outcomes = act_all(actor, plan, settings.policy.actions_per_second, options)
    finally:
        if archive is not None:
            archive.close()
    if any(outcome.result == "done" for outcome in outcomes) and not options.dry_run:
        note_changes()
    if options.touches is not None and not options.dry_run:
        options.touches.compact()
    archive_error = actor.archive_error(outcomes)
    after_error: JanitorError | None = None
    try:
        after, freed, settled = _measure_after(
            target, settings, options, outcomes, used_before, warnings
        )
    except JanitorError as error:
        after_error = error
        after, freed, settled = _unmeasured(target, error), 0, False
    result = PassResult(
        instance=target.display,
        dry_run=options.dry_run,
        before=before,
        after=after,
        plan=plan,
        outcomes=outcomes,
        freed_bytes=freed,
        settled=settled,
        scanned_keys=scanned_keys,
        prediction=options.predictor(before, removed_bytes(outcomes))
        if options.predictor
        else None,
        archive_file=str(archive.path) if archive is not None and archive.path else None,
        warnings=warnings,
        errors=[archive_error] if archive_error else [],
        scan_coverage=coverage,
        node=target.identity,
    )
    if after_error is not None:
        result.failed_after_acting(
            f"measuring after the actions failed: {after_error.message}", after_error
        )
    log.info("run.instance_finished", **result.to_dict()["results"], freed_bytes=freed)
    return result


def _measure_after(
    target: RedisTarget,
    settings: Settings,
    options: PassOptions,
    outcomes: list[ActionOutcome],
    used_before: int,
    warnings: list[str],
) -> tuple[HeadroomSnapshot, int, bool]:
    """Purge, wait for the allocator to settle, measure again: (after, freed bytes, settled)."""
    acted = any(outcome.result == "done" for outcome in outcomes)
    settled = True
    if acted and not options.dry_run:
        _purge(target, settings, warnings, dry_run=options.dry_run)
        settled = wait_until_settled(target, settings.policy.settle_timeout)
        if not settled:
            warnings.append("the allocator did not settle in time; 'after' may be early")
    after = options.meter(target)
    freed = used_before - int(_memory_info(target).get("used_memory", 0))
    return after, freed, settled


def _unmeasured(target: RedisTarget, error: JanitorError) -> HeadroomSnapshot:
    """The "after" of a pass whose after-measurement failed: unknown, with the reason."""
    document = {"instance": target.display, "verdict": "unknown", "error": error.message}
    return HeadroomSnapshot(document=document, verdict="unknown", need_to_free_bytes=0)


def removed_bytes(outcomes: list[ActionOutcome]) -> int:
    """Bytes (at judgment) of the keys actually deleted or archived (expires free them later)."""
    return sum(
        outcome.planned.record.size_bytes
        for outcome in outcomes
        if outcome.result == "done" and outcome.planned.action in ("delete", "archive")
    )


def _server_info(target: RedisTarget) -> ServerInfo:
    with redis_errors(target.display):
        return read_server_info(target.client(target.url_db or 0))


def _archive_writer(
    target: RedisTarget, settings: Settings, options: PassOptions, plan: Plan, server: ServerInfo
) -> ArchiveWriter | None:
    """A writer when the plan archives something, safety copies included (the directory is
    checked before any action)."""
    lfu_safety_copy = settings.archive.lfu_safety_copy
    if options.dry_run or not needs_archive(plan.actions, server, lfu_safety_copy=lfu_safety_copy):
        return None
    ensure_private_dir(settings.archive.dir)
    return ArchiveWriter(
        settings.archive.dir, options.run_id, target.display, settings.archive.compression_level
    )


def act_all(
    actor: KeyActor, plan: Plan, actions_per_second: float, options: PassOptions
) -> list[ActionOutcome]:
    """Act on every planned item in order, at most ``actions_per_second``; stop on MISCONF."""
    outcomes: list[ActionOutcome] = []
    interval = 0.0 if options.dry_run else 1.0 / actions_per_second
    next_at = options.monotonic()
    for index, item in enumerate(plan.actions):
        stop_reason = options.should_stop() if options.should_stop else None
        stop_reason = stop_reason or loop_stop_reason()
        if stop_reason:
            outcomes += [
                ActionOutcome(rest, "skipped", f"not tried: {stop_reason}")
                for rest in plan.actions[index:]
            ]
            log.warning("run.stopped_early", reason=stop_reason, skipped=len(plan.actions) - index)
            break
        delay = next_at - options.monotonic()
        if delay > 0:
            options.sleep(delay)  # rate limit, not a wait for a condition
        next_at = max(next_at, options.monotonic()) + interval
        outcome = actor.act(item, dry_run=options.dry_run)
        outcomes.append(outcome)
        if outcome.writes_refused or outcome.primary_lost:
            reason = (
                "not tried: the node is no longer a primary (failover during the run)"
                if outcome.primary_lost
                else "not tried: Redis refuses writes (MISCONF) since its last save failed"
            )
            outcomes += [
                ActionOutcome(rest, "skipped", reason) for rest in plan.actions[index + 1 :]
            ]
            log.error("run.writes_refused", skipped=len(plan.actions) - index - 1)
            break
    return outcomes


def _purge(target: RedisTarget, settings: Settings, warnings: list[str], *, dry_run: bool) -> None:
    if not settings.policy.memory_purge:
        return
    try:
        with redis_errors(target.display):
            writer.memory_purge(target.client(target.url_db or 0), dry_run=dry_run)
        log.info("memory.purged")
    except redis.RedisError as error:
        warnings.append(f"MEMORY PURGE failed: {error}")


def wait_until_settled(target: RedisTarget, timeout: float) -> bool:
    """Poll INFO memory until lazy frees are done and RSS stops moving; False at the deadline."""
    deadline = time.monotonic() + timeout
    previous_rss: int | None = None
    while True:
        info = _memory_info(target)
        rss = int(info.get("used_memory_rss", 0))
        pending = int(info.get("lazyfree_pending_objects", 0))
        stable = previous_rss is not None and abs(rss - previous_rss) <= SETTLE_TOLERANCE_BYTES
        if pending == 0 and stable:
            return True
        previous_rss = rss
        if time.monotonic() >= deadline:
            return False
        time.sleep(SETTLE_POLL_SECONDS)
