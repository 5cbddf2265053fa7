"""The planner: goal headroom picks the fewest best candidates; goal all; caps (pure)."""

from __future__ import annotations

from typing import Any

from janitor.config.policy_settings import PolicySettings, RuleSettings
from janitor.domain.keys import KeyRecord
from janitor.domain.planner import CandidateCollector, PlannedAction, make_plan

NOW = 1_700_000_000.0


def candidate(key: bytes, size: int, idle: int = 100) -> PlannedAction:
    rec = KeyRecord(0, key, "string", size, idle, None, None)
    return PlannedAction(rec, "delete", "r", float(size * (1 + idle)))


def keys(plan_actions: list[PlannedAction]) -> list[bytes]:
    return [item.record.key for item in plan_actions]


def policy(**fields: Any) -> PolicySettings:
    fields.setdefault("headroom_margin_bytes", 0)
    return PolicySettings(**fields)


def test_headroom_goal_takes_best_scores_until_need_is_covered() -> None:
    pool = [candidate(b"a", 500), candidate(b"b", 300), candidate(b"c", 200), candidate(b"d", 100)]
    plan = make_plan(pool, policy(goal="headroom"), need_to_free_bytes=700, now=NOW)
    assert keys(plan.actions) == [b"a", b"b"]
    assert plan.target_bytes == 700
    assert plan.planned_bytes == 800


def test_headroom_goal_drops_picks_the_rest_covers() -> None:
    # the small stale key scores first, but the big one alone covers the need
    pool = [candidate(b"small-stale", 100, idle=10_000), candidate(b"big", 1000, idle=100)]
    plan = make_plan(pool, policy(goal="headroom"), need_to_free_bytes=900, now=NOW)
    assert keys(plan.actions) == [b"big"]


def test_headroom_goal_adds_the_margin_and_does_nothing_without_need() -> None:
    pool = [candidate(b"a", 500), candidate(b"b", 300)]
    with_margin = make_plan(pool, policy(headroom_margin_bytes=250), 400, NOW, goal="headroom")
    assert keys(with_margin.actions) == [b"a", b"b"]
    assert make_plan(pool, policy(), 0, NOW, goal="headroom").actions == []


def test_headroom_goal_short_of_candidates_plans_them_all() -> None:
    pool = [candidate(b"a", 500), candidate(b"b", 300)]
    plan = make_plan(pool, policy(), 10_000, NOW, goal="headroom")
    assert keys(plan.actions) == [b"a", b"b"]


def test_goal_all_plans_every_candidate_in_score_order() -> None:
    pool = [candidate(b"c", 200), candidate(b"a", 500), candidate(b"b", 300)]
    plan = make_plan(pool, policy(goal="all"), 0, NOW)
    assert keys(plan.actions) == [b"a", b"b", b"c"]
    assert plan.judged_at == NOW


def test_caps_on_keys_and_bytes() -> None:
    pool = [candidate(b"a", 500), candidate(b"b", 300), candidate(b"c", 200), candidate(b"d", 50)]
    by_keys = make_plan(pool, policy(goal="all", max_keys=2), 0, NOW)
    assert keys(by_keys.actions) == [b"a", b"b"]
    assert by_keys.left_out_by_caps == 2
    by_bytes = make_plan(pool, policy(goal="all", max_bytes=560), 0, NOW)
    assert keys(by_bytes.actions) == [b"a", b"d"]
    assert by_bytes.left_out_by_caps == 2


def test_collector_keeps_only_the_best_candidates() -> None:
    settings = PolicySettings(
        rules=[RuleSettings(name="big", match=["big:*"], action="archive")], max_candidates=2
    )
    collector = CandidateCollector(settings)
    for index, size in enumerate([10, 500, 20, 300, 400]):
        collector.offer(KeyRecord(0, b"big:%d" % index, "string", size, 5, None, None))
    collector.offer(KeyRecord(0, b"other", "string", 10**9, 5, None, None))
    collector.offer(KeyRecord(0, b"redis-janitor:lock", "string", 10**9, 5, None, None))
    best = collector.candidates()
    assert keys(best) == [b"big:1", b"big:4"]
    assert {item.action for item in best} == {"archive"}
    assert collector.dropped == 3


def test_equal_scores_come_out_in_key_order_whatever_the_scan_order() -> None:
    # SCAN order is not stable between passes (a rehashing dict reorders it): plans must not follow
    settings = PolicySettings(rules=[RuleSettings(name="all", match=["*"], action="delete")])
    orders = ([b"k:2", b"k:0", b"k:1"], [b"k:1", b"k:2", b"k:0"])
    plans = []
    for order in orders:
        collector = CandidateCollector(settings)
        for key in order:
            collector.offer(KeyRecord(0, key, "string", 100, 5, None, None))
        plans.append(keys(make_plan(collector.candidates(), policy(goal="all"), 0, NOW).actions))
    assert plans == [[b"k:0", b"k:1", b"k:2"]] * 2
