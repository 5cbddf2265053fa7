"""The report behind ``report --format html|csv``: keyspace, headroom, history and the dry-run plan.

One scan per instance feeds both the aggregates and the planner (the same judged candidates a
``run --dry-run`` would plan from), so the page shows what the configured rules would free.
Nothing is changed on any instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.context import AppContext
from janitor.app.forecast_view import headroom_with_history
from janitor.app.headroom import measure_headroom
from janitor.app.history_store import read_samples
from janitor.app.instance_loop import for_each_instance
from janitor.app.inventory import InstanceScan, scan_instance
from janitor.app.report import build_report, key_entry
from janitor.app.topology import expand_targets
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.domain.history import Sample
from janitor.domain.planner import CandidateCollector, Plan, make_plan

PLAN_ROWS = 500
Progress = Callable[[str], AbstractContextManager[Callable[[int, int], None] | None]]


def plan_document(plan: Plan, everything: Plan) -> dict[str, Any]:
    """The plan under the configured goal and what every rule matches; ``actions`` lists the
    matches best-scored first, ``planned`` when the goal's run would act on it."""
    planned = {(item.record.db, item.record.key) for item in plan.actions}
    return {
        **plan.summary(),
        "actions": [
            {
                **key_entry(item.record),
                "action": item.action,
                "rule": item.rule,
                "planned": (item.record.db, item.record.key) in planned,
            }
            for item in everything.actions[:PLAN_ROWS]
        ],
        "all_matching": {
            "actions": len(everything.actions),
            "bytes": everything.planned_bytes,
            "by_action": _by_action(everything),
        },
    }


def _by_action(plan: Plan) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for item in plan.actions:
        row = table.setdefault(item.action, {"keys": 0, "bytes": 0})
        row["keys"] += 1
        row["bytes"] += item.record.size_bytes
    return table


def scan_and_plan(
    target: RedisTarget,
    settings: Settings,
    need_to_free_bytes: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[InstanceScan, dict[str, Any]]:
    """Scan ``target`` once: aggregates for the report, candidates for the dry-run plan."""
    collector = CandidateCollector(settings.policy)
    scan = scan_instance(target, settings, progress, collector.offer)
    candidates = collector.candidates()
    now = time.time()
    plan = make_plan(candidates, settings.policy, need_to_free_bytes, now)
    everything = make_plan(candidates, settings.policy, need_to_free_bytes, now, "all")
    return scan, plan_document(plan, everything)


def series(samples: list[Sample]) -> dict[str, list[dict[str, Any]]]:
    """Per instance, the samples the trend chart draws (oldest first)."""
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        by_instance.setdefault(sample.instance, []).append(
            {
                "ts": sample.ts,
                "headroom": sample.headroom,
                "commit_headroom": sample.commit_headroom,
                "cow_headroom": sample.cow_headroom,
                "fork_charge": sample.fork_charge,
                "used_memory": sample.used_memory,
                "cleanup": sample.is_cleanup,
            }
        )
    return by_instance


def full_report(app: AppContext, progress: Progress) -> tuple[dict[str, Any], list[JanitorError]]:
    """Measure, scan and plan every instance; return the document and the failures."""
    settings = app.settings
    targets = expand_targets(settings)
    try:
        headroom: dict[str, Any] | None = headroom_with_history(
            measure_headroom(targets, settings), settings, "report"
        )
    except JanitorError:
        headroom = None  # every instance is unreachable: the scans below say so
    needs = {e["url"]: e["need_to_free_bytes"] for e in (headroom or {}).get("instances", [])}
    plans: dict[str, dict[str, Any]] = {}

    def scan(target: RedisTarget) -> InstanceScan:
        with progress(f"scanning {target.display}") as tick:
            found, plans[target.display] = scan_and_plan(
                target, settings, needs.get(target.display, 0), tick
            )
        return found

    workers = settings.scan.parallel_instances
    done = for_each_instance(targets, settings, scan, may_write=False, workers=workers)
    done.raise_if_all_failed()
    scans, failures = done.results, done.failures
    document = build_report(scans, app.run_id, settings.report.top)
    for entry in document["instances"]:
        entry["plan"] = plans.get(entry["url"])
    if headroom is not None:
        document["headroom"] = headroom
    window_start = time.time() - settings.history.forecast_window
    document["history"] = series(read_samples(settings, window_start))
    document["forecast_warn_seconds"] = settings.headroom.forecast_warn
    document["errors"] = [
        {"url": url, "exit_code": int(error.exit_code), "message": error.message}
        for url, error in failures
    ]
    return document, [error for _, error in failures]
