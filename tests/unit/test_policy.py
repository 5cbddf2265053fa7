"""Rule matching, precedence, protected keys, globs and scores (pure, no Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from janitor.config.policy_settings import PolicySettings, RuleSettings
from janitor.domain.keys import KeyRecord
from janitor.domain.policy import glob_matches, judge, rule_matches, score

DAY = 86400


def record(
    key: bytes = b"k",
    *,
    db: int = 0,
    kind: str = "string",
    size: int = 1000,
    idle: int | None = 0,
    freq: int | None = None,
    ttl_ms: int | None = None,
) -> KeyRecord:
    return KeyRecord(db, key, kind, size, idle, freq, ttl_ms)


def rule(**fields: Any) -> RuleSettings:
    fields.setdefault("name", "r")
    fields.setdefault("action", "delete")
    return RuleSettings(**fields)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("cache:*", b"cache:x", True),
        ("cache:*", b"cachex", False),
        ("h?llo", b"hello", True),
        ("h?llo", b"hllo", False),
        ("h[ae]llo", b"hallo", True),
        ("h[^e]llo", b"hello", False),
        ("h[^e]llo", b"hallo", True),
        ("h[a-c]llo", b"hbllo", True),
        ("h[a-c]llo", b"hdllo", False),
        ("a\\*b", b"a*b", True),
        ("a\\*b", b"axb", False),
        ("*", b"line\nbreak\xff", True),
        (b"bin:\xff*", b"bin:\xff\x00", True),
        ("exact", b"exact\n", False),
    ],
)
def test_redis_globs_on_bytes(pattern: str | bytes, key: bytes, expected: bool) -> None:
    assert glob_matches(pattern, key) is expected


def test_every_condition_must_hold() -> None:
    stale_big = record(b"cache:1", size=50_000, idle=40 * DAY)
    base = rule(match=["cache:*"], min_size=10_000, min_idle=30 * DAY)
    assert rule_matches(base, stale_big)
    assert not rule_matches(base, record(b"cache:1", size=5_000, idle=40 * DAY))
    assert not rule_matches(base, record(b"cache:1", size=50_000, idle=DAY))
    assert not rule_matches(base, record(b"other:1", size=50_000, idle=40 * DAY))
    assert not rule_matches(rule(exclude=["cache:1"]), stale_big)
    assert not rule_matches(rule(types=["hash"]), stale_big)
    assert rule_matches(rule(types=["string"]), stale_big)
    assert not rule_matches(rule(dbs=[1]), stale_big)


def test_ttl_conditions() -> None:
    no_ttl, short, long = record(), record(ttl_ms=60_000), record(ttl_ms=10 * DAY * 1000)
    assert rule_matches(rule(no_ttl=True), no_ttl)
    assert not rule_matches(rule(no_ttl=True), short)
    assert rule_matches(rule(no_ttl=False), short)
    assert not rule_matches(rule(no_ttl=False), no_ttl)
    over_day = rule(ttl_over=DAY)
    assert rule_matches(over_day, no_ttl)
    assert rule_matches(over_day, long)
    assert not rule_matches(over_day, short)


def test_unknown_staleness_never_matches() -> None:
    lfu_key = record(idle=None, freq=2)
    assert not rule_matches(rule(min_idle=60), lfu_key)
    assert rule_matches(rule(max_freq=5), lfu_key)
    assert not rule_matches(rule(max_freq=1), lfu_key)
    assert not rule_matches(rule(max_freq=5), record(idle=100))


def test_first_matching_rule_wins() -> None:
    policy = PolicySettings(
        rules=[
            rule(name="keep-important", match=["cache:important:*"], action="keep"),
            rule(name="archive-cache", match=["cache:*"], action="archive"),
            rule(name="delete-all", action="delete"),
        ]
    )
    assert judge(policy, record(b"cache:important:1")).action == "keep"
    assert judge(policy, record(b"cache:important:1")).rule.name == "keep-important"  # type: ignore[union-attr]
    assert judge(policy, record(b"cache:x")).action == "archive"
    assert judge(policy, record(b"tmp:x")).action == "delete"
    assert judge(PolicySettings(), record(b"tmp:x")).rule is None


def test_protected_keys_are_never_acted_on() -> None:
    policy = PolicySettings(rules=[rule()], protected=["precious:*"])
    assert judge(policy, record(b"precious:1")).protected
    assert judge(policy, record(b"precious:1")).action == "keep"
    # the janitor's own keys stay protected even when the list is replaced
    assert judge(policy, record(b"redis-janitor:lock")).action == "keep"
    assert judge(policy, record(b"other")).action == "delete"


def test_score_is_bytes_times_staleness_and_configurable() -> None:
    policy = PolicySettings()
    assert score(policy, record(size=100, idle=9)) == 100 * 10
    assert score(policy, record(size=100, idle=None, freq=250)) == 100 * 6
    size_only = PolicySettings(score_staleness_exponent=0)
    assert score(size_only, record(size=100, idle=1000)) == 100


def test_expire_rules_need_expire_in() -> None:
    with pytest.raises(ValidationError, match="expire_in"):
        rule(action="expire")
    with pytest.raises(ValidationError, match="expire_in"):
        rule(action="delete", expire_in=10)
    assert rule(action="expire", expire_in="1d").expire_in == DAY
