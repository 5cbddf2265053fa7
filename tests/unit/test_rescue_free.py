"""The rescue's round choice and its advice when it falls short (pure)."""

from __future__ import annotations

from janitor.app.rescue.advice import DAY, LeftoverTally, more_to_free_advice
from janitor.app.rescue.free import next_batch
from janitor.config.policy_settings import PolicySettings, RuleSettings
from janitor.domain.keys import KeyRecord
from janitor.domain.planner import Plan, PlannedAction

NOW = 1_700_000_000.0
MiB = 1 << 20


def candidate(key: bytes, size: int, idle: int = 100) -> PlannedAction:
    record = KeyRecord(0, key, "string", size, idle, None, None)
    return PlannedAction(record, "delete", "r", float(size * (1 + idle)))


def names(batch: list[PlannedAction]) -> list[bytes]:
    return [item.record.key for item in batch]


QUEUE = [candidate(f"k{i}".encode(), MiB, idle=1000 - i) for i in range(10)]


def test_a_round_covers_the_models_need_plus_the_margin() -> None:
    policy = PolicySettings(headroom_margin_bytes=MiB)
    batch = next_batch(QUEUE, 2 * MiB, policy, round_bytes=8 * MiB, now=NOW)
    assert names(batch) == [b"k0", b"k1", b"k2"]


def test_without_a_need_a_round_frees_round_bytes_and_no_margin() -> None:
    policy = PolicySettings(headroom_margin_bytes=64 * MiB)
    batch = next_batch(QUEUE, 0, policy, round_bytes=4 * MiB, now=NOW)
    assert names(batch) == [b"k0", b"k1", b"k2", b"k3"]


def test_caps_are_not_applied_again_per_round() -> None:
    policy = PolicySettings(headroom_margin_bytes=0, max_keys=1, max_bytes=MiB)
    batch = next_batch(QUEUE, 3 * MiB, policy, round_bytes=MiB, now=NOW)
    assert len(batch) == 3


def test_an_empty_queue_gives_an_empty_round() -> None:
    assert next_batch([], 0, PolicySettings(), round_bytes=MiB, now=NOW) == []


def record(key: bytes, size: int, idle: int | None) -> KeyRecord:
    return KeyRecord(0, key, "string", size, idle, None, None)


def tally_of(policy: PolicySettings) -> LeftoverTally:
    tally = LeftoverTally(policy)
    tally.offer(record(b"cache:old", 10 * MiB, 40 * DAY))
    tally.offer(record(b"cache:week", 5 * MiB, 8 * DAY))
    tally.offer(record(b"sess:new", 3 * MiB, 60))
    tally.offer(record(b"redis-janitor:lock", 50 * MiB, 90 * DAY))  # protected
    tally.offer(record(b"big:ruled", 70 * MiB, 90 * DAY))  # a rule acts on it
    return tally


RULED = PolicySettings(rules=[RuleSettings(name="big", match=["big:*"], action="delete")])


def test_leftovers_count_keys_no_rule_acts_on_by_idle_time() -> None:
    tally = tally_of(RULED)
    assert tally.bytes_by_step == [10 * MiB, 15 * MiB, 15 * MiB, 15 * MiB, 18 * MiB]
    assert tally.keys_by_step == [1, 2, 2, 2, 3]


def test_the_suggestion_is_the_stalest_threshold_that_covers_the_need() -> None:
    tally = tally_of(RULED)
    assert "--min-idle 30d" in (tally.suggestion(8 * MiB, MiB) or "")
    suggestion = tally.suggestion(12 * MiB, MiB) or ""
    assert "--min-idle 7d" in suggestion
    assert "idle ≥ 7d hold 15.0 MiB (2 keys)" in suggestion
    assert "even that may not be enough" in (tally.suggestion(100 * MiB, MiB) or "")


def test_advice_names_the_need_the_caps_and_a_rule() -> None:
    plan = Plan("all", 0, 0, NOW, left_out_by_caps=4, candidates=30)
    advice = more_to_free_advice(plan, tally_of(RULED), 12 * MiB, 3 * MiB, MiB)
    assert advice[0] == "about 12.0 MiB more must go, by the headroom model"
    assert "4 candidates were left out by policy.max_keys/max_bytes" in advice[1]
    assert "--min-idle 7d" in advice[2]


def test_advice_without_a_need_says_the_model_cannot_tell() -> None:
    advice = more_to_free_advice(None, None, 0, 3 * MiB, MiB)
    assert advice == [
        "3.0 MiB removed was not enough and the headroom model cannot say how much more "
        "(it judged the fork to fit)"
    ]
    assert more_to_free_advice(None, None, 0, 3 * MiB, MiB, include_need=False) == []


def test_advice_without_any_candidate_says_how_to_give_rules() -> None:
    advice = more_to_free_advice(Plan("all", 0, 0, NOW), tally_of(RULED), 0, 0, MiB)
    assert advice[1].startswith("no rule picked any key: configure [[policy.rules]]")
    assert "--min-idle 30d" in advice[2]


def test_with_a_size_floor_small_keys_count_by_size_alone() -> None:
    policy = PolicySettings(
        rules=[
            RuleSettings(name="keep", match=["sess:*"], types=["hash"], action="keep"),
            RuleSettings(name="big", match=["*"], min_size=MiB, action="delete"),
        ]
    )
    tally = LeftoverTally(policy, floor=MiB)
    tally.offer(record(b"cache:old", 10, 40 * DAY))  # a record under the floor: by size
    tally.offer_sizes(0, [b"a", b"sess:1", b"redis-janitor:lock", b"big"], [20, 30, 40, 2 * MiB])
    tally.offer_sizes(0, [b"gone"], [None])
    assert (tally.small_keys, tally.small_bytes) == (2, 30)  # sess:* may be kept: not counted
    assert tally.bytes_by_step == [0] * 5  # "big" comes as a record, not from its size
    tally.offer(record(b"sess:big", 3 * MiB, 8 * DAY))  # a rule acts on it (delete)
    tally.offer(record(b"sess:huge", 0, 0))  # under the floor again
    assert tally.bytes_by_step == [0] * 5 and tally.small_keys == 2
    suggestion = tally.suggestion(10, MiB) or ""
    assert "(2 keys, 2 of them under 1.0 MiB" in suggestion
    assert "--min-size" not in suggestion and "even that" not in suggestion
