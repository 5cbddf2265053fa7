"""A primary demoted during a run (what a Sentinel failover does): the acting stops, says why."""

from __future__ import annotations

from pathlib import Path

from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.key_actions import ActionHooks
from janitor.app.instance_pass import PassOptions, run_pass
from janitor.config.settings import load_settings
from janitor.domain.planner import PlannedAction
from tests.conftest import RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import wait_for
from tests.support.topology import info, make_replica, wait_replicated

DAY = 86400


def test_demoted_primary_stops_the_acting(redis_factory: RedisFactory, tmp_path: Path) -> None:
    primary, replica = redis_factory(), redis_factory()
    make_replica(replica, primary)
    for index in range(4):
        plant(primary.client(), f"cache:{index}", size=10_000, idle_seconds=40 * DAY)
    wait_replicated(primary, replica)
    rules = [{"name": "old", "match": ["cache:*"], "min_idle": "30d", "action": "delete"}]
    settings = load_settings(
        None,
        {"redis": {"urls": [primary.url]}, "policy": {"goal": "all", "rules": rules}},
        environ={},
    )
    seen: list[bytes] = []

    def demote_after_first(item: PlannedAction) -> None:
        if len(seen) == 1:  # the failover: the replica is promoted, the primary follows it
            replica.client().execute_command("REPLICAOF", "NO", "ONE")
            primary.client().execute_command("REPLICAOF", "127.0.0.1", str(replica.port))
            wait_for(lambda: info(primary, "replication")["role"] == "slave", what="demoted")
        seen.append(item.record.key)

    target = RedisTarget(primary.url, settings, role="primary")
    options = PassOptions(
        dry_run=False, run_id="t", hooks=ActionHooks(before_check=demote_after_first)
    )
    result = run_pass(target, settings, options)
    results = [(o.result, o.reason) for o in result.outcomes]
    assert results[0] == ("done", "deleted")
    assert results[1][0] == "failed"
    assert "no longer a primary" in results[1][1]
    assert (
        results[2:]
        == [("skipped", "not tried: the node is no longer a primary (failover during the run)")] * 2
    )
    assert seen == [o.planned.record.key for o in result.outcomes[:2]]  # nothing tried after
    assert replica.client().dbsize() == 3  # the new primary keeps the keys not acted on
