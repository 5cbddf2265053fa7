"""The planner: judged candidates + goal + need + caps + clock → an ordered plan. Pure.

Candidates are taken in score order (policy.score, best first). Under goal ``all`` every
candidate is planned; under goal ``headroom`` candidates are taken until their bytes cover
``need_to_free_bytes + headroom_margin_bytes``, then picks that are no longer needed are dropped
again (worst score first), so the plan is the fewest best-scored keys that cover the target.
Nothing is planned under goal headroom when the need is zero. Caps (``max_keys``, ``max_bytes``)
apply in both goals; a candidate that would overshoot ``max_bytes`` is left out and smaller
ones are still considered.

Bytes counted are MEMORY USAGE at judgment. An ``expire`` frees its bytes only when the TTL
fires, so it counts toward the goal but the measured "after" shows it later.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from janitor.config.policy_settings import PolicySettings
from janitor.domain.keys import KeyRecord
from janitor.domain.policy import judge, score


@dataclass(frozen=True)
class PlannedAction:
    """One action of the plan, with the record as it was judged."""

    record: KeyRecord
    action: str
    rule: str
    score: float
    expire_in_seconds: float | None = None


@dataclass
class Plan:
    """The ordered actions of one run on one instance, and what was left out."""

    goal: str
    need_to_free_bytes: int
    target_bytes: int
    judged_at: float
    actions: list[PlannedAction] = field(default_factory=list)
    left_out_by_caps: int = 0
    candidates: int = 0
    left_out_by_max_keys: int = 0
    left_out_by_max_bytes: int = 0
    beyond_max_candidates: int = 0
    """Matching keys the collector dropped (lower-scored, over policy.max_candidates)."""
    actions_per_second: float = 0.0

    @property
    def planned_bytes(self) -> int:
        """Bytes (at judgment) of every planned action."""
        return sum(item.record.size_bytes for item in self.actions)

    @property
    def matching_keys(self) -> int:
        """Keys some rule acts on: the candidates kept plus those over max_candidates."""
        return self.candidates + self.beyond_max_candidates

    @property
    def estimated_seconds(self) -> float:
        """How long the actions take at the rate limit (0 when no rate is known)."""
        if not self.actions_per_second:
            return 0.0
        return len(self.actions) / self.actions_per_second

    def rule_totals(self) -> list[tuple[str, str, int, int]]:
        """(rule, action, keys, bytes) planned per rule and action, largest bytes first."""
        totals: dict[tuple[str, str], list[int]] = {}
        for item in self.actions:
            entry = totals.setdefault((item.rule, item.action), [0, 0])
            entry[0] += 1
            entry[1] += item.record.size_bytes
        ordered = sorted(totals.items(), key=lambda entry: -entry[1][1])
        return [(rule, action, keys, size) for (rule, action), (keys, size) in ordered]

    def summary(self) -> dict[str, object]:
        """The plan's figures for reports and logs."""
        return {
            "goal": self.goal,
            "need_to_free_bytes": self.need_to_free_bytes,
            "target_bytes": self.target_bytes,
            "candidates": self.candidates,
            "matching_keys": self.matching_keys,
            "planned_actions": len(self.actions),
            "planned_bytes": self.planned_bytes,
            "left_out_by_caps": self.left_out_by_caps,
            "left_out": {
                "max_keys": self.left_out_by_max_keys,
                "max_bytes": self.left_out_by_max_bytes,
                "max_candidates": self.beyond_max_candidates,
            },
            "actions_per_second": self.actions_per_second,
            "estimated_seconds": round(self.estimated_seconds, 1),
        }


class CandidateCollector:
    """Keeps the ``limit`` best-scored records that some rule wants to act on (bounded memory)."""

    def __init__(self, policy: PolicySettings, limit: int | None = None) -> None:
        self._policy = policy
        self._limit = limit or policy.max_candidates
        self._heap: list[tuple[float, int, PlannedAction]] = []
        self._sequence = 0
        self.dropped = 0

    def offer(self, record: KeyRecord) -> None:
        """Judge ``record``; keep it when a rule acts on it and it is among the best."""
        judgment = judge(self._policy, record)
        if judgment.rule is None or judgment.action == "keep":
            return
        candidate = PlannedAction(
            record=record,
            action=judgment.action,
            rule=judgment.rule.name,
            score=score(self._policy, record),
            expire_in_seconds=judgment.rule.expire_in,
        )
        self._sequence += 1
        entry = (candidate.score, -self._sequence, candidate)
        if len(self._heap) < self._limit:
            heapq.heappush(self._heap, entry)
        else:
            heapq.heappushpop(self._heap, entry)
            self.dropped += 1

    def candidates(self) -> list[PlannedAction]:
        """The kept candidates in ``plan_order``."""
        return sorted((entry[2] for entry in self._heap), key=plan_order)


def plan_order(item: PlannedAction) -> tuple[float, int, bytes]:
    """Sort key of candidates: best score first; ties by db, then key bytes.

    Ties are common (keys planted or written together have the same size and idle time) and
    scan order is not stable between passes (a server rehashing its dict reorders SCAN), so the
    order breaks them by name: the same data gives the same plan every time.
    """
    return (-item.score, item.record.db, item.record.key)


def make_plan(
    candidates: Iterable[PlannedAction],
    policy: PolicySettings,
    need_to_free_bytes: int,
    now: float,
    goal: str | None = None,
) -> Plan:
    """Return the plan for ``candidates`` (any order) under ``policy`` at time ``now``."""
    goal = goal or policy.goal
    ordered = sorted(candidates, key=plan_order)
    target = 0
    if goal == "headroom" and need_to_free_bytes > 0:
        target = need_to_free_bytes + policy.headroom_margin_bytes
    plan = Plan(
        goal,
        need_to_free_bytes,
        target,
        now,
        candidates=len(ordered),
        actions_per_second=policy.actions_per_second,
    )
    if goal == "headroom" and target == 0:
        return plan
    chosen: list[PlannedAction] = []
    chosen_bytes = 0
    for item in ordered:
        if goal == "headroom" and chosen_bytes >= target:
            break
        size = item.record.size_bytes
        over_keys = policy.max_keys and len(chosen) >= policy.max_keys
        over_bytes = policy.max_bytes and chosen_bytes + size > policy.max_bytes
        if over_keys or over_bytes:
            plan.left_out_by_caps += 1
            if over_keys:
                plan.left_out_by_max_keys += 1
            else:
                plan.left_out_by_max_bytes += 1
            continue
        chosen.append(item)
        chosen_bytes += size
    if goal == "headroom":
        chosen = _drop_unneeded(chosen, target)
    plan.actions = chosen
    return plan


def _drop_unneeded(chosen: list[PlannedAction], target: int) -> list[PlannedAction]:
    """Remove picks (worst score first) whose bytes the rest still covers without them."""
    total = sum(item.record.size_bytes for item in chosen)
    if total < target:
        return chosen
    kept = list(chosen)
    for item in reversed(chosen):
        if total - item.record.size_bytes >= target:
            kept.remove(item)
            total -= item.record.size_bytes
    return kept
