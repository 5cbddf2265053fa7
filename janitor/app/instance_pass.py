"""One ``run`` cycle on one instance: headroom before → scan → plan → act → purge → settle → after.

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
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.key_actions import ActionHooks, ActionOutcome, KeyActor
from janitor.app.inventory import scan_instance
from janitor.config.settings import Settings
from janitor.core.logs import get_logger
from janitor.domain.planner import CandidateCollector, Plan, make_plan
from janitor.domain.server import IdleMetric, ServerInfo

log = get_logger(__name__)
SETTLE_POLL_SECONDS = 0.1
SETTLE_TOLERANCE_BYTES = 64 * 1024


@dataclass(frozen=True)
class HeadroomSnapshot:
    """A headroom measurement: the JSON document, the verdict and how much must be freed.

    ``detail`` carries the meter's own object (e.g. the model's per-instance result) for a
    Predictor; the cycle never looks inside it. ``host`` is the host section of the headroom
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
    """What one cycle did on one instance."""

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
        }


@dataclass
class PassOptions:
    """How to run the cycle; everything but ``dry_run`` has a safe default."""

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
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def plan_instance(
    target: RedisTarget, settings: Settings, options: PassOptions, need_to_free_bytes: int
) -> tuple[Plan, list[str], int]:
    """Scan ``target`` keeping only judged candidates; return the plan, warnings, keys scanned."""
    collector = CandidateCollector(settings.policy)
    scan = scan_instance(target, settings, options.progress, collector.offer)
    plan = make_plan(
        collector.candidates(), settings.policy, need_to_free_bytes, options.clock(), options.goal
    )
    warnings = list(scan.warnings)
    if scan.idle_metric is IdleMetric.FREQ and any(r.min_idle for r in settings.policy.rules):
        warnings.append("rules with min_idle never match here (LFU: use max_freq)")
    if collector.dropped:
        warnings.append(f"{collector.dropped} lower-scored candidates over max_candidates ignored")
    log.info("plan.made", **plan.summary())
    return plan, warnings, scan.aggregates.total.keys


def run_pass(target: RedisTarget, settings: Settings, options: PassOptions) -> PassResult:
    """Run one cycle on ``target``; ``options.dry_run`` sends no command that changes anything."""
    before = options.meter(target)
    log.info("headroom.before", verdict=before.verdict, need=before.need_to_free_bytes)
    goal = options.goal or settings.policy.goal
    scanned_keys: int | None = None
    if goal == "headroom" and before.need_to_free_bytes <= 0:
        plan = make_plan([], settings.policy, 0, options.clock(), goal)
        warnings = ["headroom is fine: nothing to free, the keyspace was not scanned"]
    else:
        plan, warnings, scanned_keys = plan_instance(
            target, settings, options, before.need_to_free_bytes
        )
    if plan.actions and not options.dry_run and options.confirm is not None:
        options.confirm(plan)
    used_before = int(_memory_info(target).get("used_memory", 0))
    archive = _archive_writer(target, settings, options, plan)
    actor = KeyActor(
        target,
        _server_info(target),
        archive,
        settings.archive.max_payload_bytes,
        settings.scan.samples,
        options.hooks,
        options.clock,
    )
    try:
        outcomes = act_all(actor, plan, settings.policy.actions_per_second, options)
    finally:
        if archive is not None:
            archive.close()
    acted = any(outcome.result == "done" for outcome in outcomes)
    settled = True
    if acted and not options.dry_run:
        _purge(target, settings, warnings)
        settled = wait_until_settled(target, settings.policy.settle_timeout)
        if not settled:
            warnings.append("the allocator did not settle in time; 'after' may be early")
    after = options.meter(target)
    freed = used_before - int(_memory_info(target).get("used_memory", 0))
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
        node=target.identity,
    )
    log.info("run.instance_finished", **result.to_dict()["results"], freed_bytes=freed)
    return result


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
    target: RedisTarget, settings: Settings, options: PassOptions, plan: Plan
) -> ArchiveWriter | None:
    """A writer when the plan archives something (the directory is checked before any action)."""
    if options.dry_run or not any(item.action == "archive" for item in plan.actions):
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


def _purge(target: RedisTarget, settings: Settings, warnings: list[str]) -> None:
    if not settings.policy.memory_purge:
        return
    try:
        with redis_errors(target.display):
            target.client(target.url_db or 0).execute_command("MEMORY PURGE")
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
