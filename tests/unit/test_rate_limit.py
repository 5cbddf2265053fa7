"""The action rate limit, on an injected clock (no real waiting, no timing)."""

from __future__ import annotations

from janitor.adapters.redis.key_actions import ActionOutcome
from janitor.app.instance_pass import PassOptions, act_all
from janitor.domain.keys import KeyRecord
from janitor.domain.planner import Plan, PlannedAction


class ManualClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingActor:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.acted_at: list[float] = []

    def act(self, item: PlannedAction, *, dry_run: bool) -> ActionOutcome:
        self.acted_at.append(self.clock.now)
        return ActionOutcome(item, "planned" if dry_run else "done")


def plan_of(count: int) -> Plan:
    plan = Plan("all", 0, 0, 0.0)
    plan.actions = [
        PlannedAction(KeyRecord(0, b"k%d" % i, "string", 1, 1, None, None), "delete", "r", 1.0)
        for i in range(count)
    ]
    return plan


def run(count: int, rate: float, dry_run: bool) -> tuple[RecordingActor, ManualClock]:
    clock = ManualClock()
    actor = RecordingActor(clock)
    options = PassOptions(dry_run, "t", monotonic=clock.monotonic, sleep=clock.sleep)
    outcomes = act_all(actor, plan_of(count), rate, options)  # type: ignore[arg-type]
    assert len(outcomes) == count
    return actor, clock


def test_actions_are_spaced_by_the_rate_limit() -> None:
    actor, clock = run(5, rate=4.0, dry_run=False)
    assert actor.acted_at == [100.0, 100.25, 100.5, 100.75, 101.0]
    assert sum(clock.sleeps) == 1.0


def test_a_dry_run_is_not_slowed_down() -> None:
    actor, clock = run(5, rate=1.0, dry_run=True)
    assert clock.sleeps == []
    assert actor.acted_at == [100.0] * 5
