"""Ad-hoc rule flags and the run exit code (pure)."""

from __future__ import annotations

import pytest

from janitor.app.exit_codes import run_exit_code
from janitor.app.instance_pass import HeadroomSnapshot, PassResult
from janitor.cli.rules import adhoc_policy
from janitor.core.errors import LockHeldError, RedisUnavailableError, UsageError
from janitor.domain.planner import Plan


def test_ad_hoc_flags_make_one_rule_with_goal_all() -> None:
    policy = adhoc_policy(("a:*", "b:*"), "1MiB", "30d", ("hash",), "delete", None, None)
    assert policy["goal"] == "all"
    (rule,) = policy["rules"]
    assert rule == {
        "name": "command-line",
        "match": ["a:*", "b:*"],
        "min_size": 1024**2,
        "min_idle": 30 * 86400,
        "types": ["hash"],
        "action": "delete",
    }
    assert adhoc_policy(("*",), None, None, (), "delete", None, "headroom")["goal"] == "headroom"
    assert adhoc_policy((), None, None, (), None, None, None) == {"goal": None}


@pytest.mark.parametrize(
    "flags",
    [
        ((), None, None, (), "delete", None, None),
        (("*",), None, None, (), None, None, None),
        (("*",), None, None, (), "expire", None, None),
        (("*",), None, None, (), "delete", "1d", None),
        (("*",), "huge", None, (), "delete", None, None),
        (("*",), None, "forever", (), "delete", None, None),
    ],
)
def test_bad_ad_hoc_flags_are_usage_errors(flags: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(UsageError):
        adhoc_policy(*flags)


def result(after_verdict: str, need: int) -> PassResult:
    snapshot = HeadroomSnapshot({}, after_verdict, need)
    plan = Plan("all", 0, 0, 0.0)
    return PassResult("i", False, snapshot, snapshot, plan, [], 0, True)


def test_exit_code_says_ok_short_or_failed() -> None:
    assert run_exit_code([result("ok", 0)], []) == 0
    assert run_exit_code([result("warn", 10)], []) == 1
    assert run_exit_code([result("critical", 10)], []) == 1
    assert run_exit_code([result("ok", 0)], [("x", RedisUnavailableError("down"))]) == 2
    assert run_exit_code([result("ok", 0)], [("x", LockHeldError("held"))]) == 75
