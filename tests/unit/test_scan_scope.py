"""What a run's scan must ask, derived from the policy (pure)."""

from __future__ import annotations

from typing import Any

from janitor.config.policy_settings import PolicySettings
from janitor.domain.scan_scope import ScanScope, dbs_without_expires, scan_scope


def policy(*rules: dict[str, Any]) -> PolicySettings:
    return PolicySettings.model_validate({"rules": list(rules)})


def test_the_smallest_min_size_of_the_acting_rules_is_the_floor() -> None:
    scope = scan_scope(
        policy(
            {"name": "a", "min_size": "1MiB", "action": "delete"},
            {"name": "b", "min_size": "64KiB", "action": "expire", "expire_in": "1d"},
            {"name": "keep", "action": "keep"},
        )
    )
    assert scope == ScanScope(min_size=64 * 1024, match=None, type=None)


def test_an_acting_rule_without_min_size_means_every_key() -> None:
    scope = scan_scope(
        policy(
            {"name": "a", "min_size": "1MiB", "action": "delete"},
            {"name": "b", "min_idle": "30d", "action": "delete"},
        )
    )
    assert scope.min_size is None


def test_one_shared_glob_and_type_become_scan_filters() -> None:
    shared = {"match": ["cache:*"], "types": ["hash"], "action": "delete"}
    scope = scan_scope(policy({"name": "a", **shared}, {"name": "b", **shared, "min_size": 1}))
    assert (scope.match, scope.type) == ("cache:*", "hash")
    mixed = scan_scope(
        policy(
            {"name": "a", "match": ["cache:*"], "action": "delete"},
            {"name": "b", "match": ["tmp:*"], "action": "delete"},
        )
    )
    assert (mixed.match, mixed.type) == (None, None)
    several = scan_scope(policy({"name": "a", "match": ["a:*", "b:*"], "action": "delete"}))
    assert several.match is None


def test_no_acting_rule_scans_everything() -> None:
    assert scan_scope(policy({"name": "k", "min_size": 5, "action": "keep"})) == ScanScope(
        None, None, None
    )


def test_dbs_without_expires_from_parsed_and_raw_keyspace() -> None:
    info = {
        "db0": {"keys": 10, "expires": 0, "avg_ttl": 0},
        "db1": {"keys": 10, "expires": 3, "avg_ttl": 5},
        "db2": "keys=4,expires=0,avg_ttl=0",
        "used_memory": 1,
    }
    assert dbs_without_expires(info) == frozenset({0, 2})
