"""A Redis Cluster changing under a run: slot migration and failover between judging and acting.

A key whose slot moved is skipped with the reason (it was judged on its old owner, never on the
new one) and is never lost; the other keys are acted on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from janitor.adapters.redis.cluster import read_cluster_nodes
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.key_actions import ActionHooks
from janitor.adapters.redis.lock import RedisLock, lock_key
from janitor.app.instance_pass import PassOptions, PassResult, run_pass
from janitor.app.topology import expand_targets
from janitor.config.settings import Settings, load_settings
from janitor.domain.planner import PlannedAction
from janitor.domain.topology import ClusterNode, key_slot, slot_in
from tests.support.redis_server import RedisServer
from tests.support.topology import RANGES, Cluster, fail_over, migrate_slot, running_cluster

DAY = 86400


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path / "cluster") as running:
        yield running


def settings_for(url: str, tmp_path: Path) -> Settings:
    rules = [{"name": "old", "match": ["cache:*"], "min_idle": "30d", "action": "delete"}]
    return load_settings(
        None,
        {
            "redis": {"urls": [url], "nodes": "all"},
            "archive": {"dir": str(tmp_path / "archive")},
            "policy": {"goal": "all", "rules": rules, "settle_timeout": 2},
        },
        environ={},
    )


def keys_on(cluster: Cluster, server: RedisServer, count: int) -> list[bytes]:
    """``count`` key names (with distinct slots) that ``server``'s shard serves."""
    ranges = [RANGES[cluster.primaries.index(server)]]
    found: list[bytes] = []
    number = 0
    while len(found) < count:
        key = f"cache:{number}".encode()
        slots = {key_slot(k) for k in found}
        if slot_in(key_slot(key), ranges) and key_slot(key) not in slots:
            found.append(key)
        number += 1
    return found


def target_of(targets: list[RedisTarget], server: RedisServer) -> RedisTarget:
    return next(t for t in targets if t.url.endswith(f":{server.port}"))


def run_on(target: RedisTarget, settings: Settings, hook: ActionHooks) -> PassResult:
    return run_pass(target, settings, PassOptions(dry_run=False, run_id="test", hooks=hook))


def test_keys_whose_slot_migrates_during_the_run_are_skipped_not_lost(
    cluster: Cluster, tmp_path: Path
) -> None:
    source, destination = cluster.primaries[0], cluster.primaries[1]
    keys = keys_on(cluster, source, 4)
    for key in keys:
        cluster.plant(key, 10_000, idle_seconds=40 * DAY)
    moved, asked = keys[1], keys[2]
    settings = settings_for(source.url, tmp_path)
    target = target_of(expand_targets(settings, acting=True), source)

    def migrate(item: PlannedAction) -> None:
        if item.record.key == moved:
            migrate_slot(cluster, moved, destination, finish=True)
        if item.record.key == asked:
            migrate_slot(cluster, asked, destination, finish=False)

    result = run_on(target, settings, ActionHooks(before_check=migrate))
    outcomes = {o.planned.record.key: o for o in result.outcomes}
    assert set(outcomes) == set(keys)
    for key in (moved, asked):
        assert outcomes[key].result == "skipped"
        assert f"moved to 127.0.0.1:{destination.port}" in outcomes[key].reason
        assert _exists_asking(destination, key)  # on its new owner: not lost
        assert source.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", key_slot(key)) == 0
    assert [outcomes[k].result for k in keys if k not in (moved, asked)] == ["done", "done"]
    assert result.count("failed") == 0


def _exists_asking(server: RedisServer, key: bytes) -> bool:
    client = server.client()
    with client.pipeline(transaction=False) as pipe:
        pipe.execute_command("ASKING")
        pipe.exists(key)
        return bool(pipe.execute()[1])


def test_failover_during_the_run_leaves_the_rest_alone(cluster: Cluster, tmp_path: Path) -> None:
    primary, replica = cluster.primaries[2], cluster.replicas[2]
    keys = keys_on(cluster, primary, 4)
    for key in keys:
        cluster.plant(key, 10_000, idle_seconds=40 * DAY)
    settings = settings_for(primary.url, tmp_path)
    target = target_of(expand_targets(settings, acting=True), primary)
    acted: list[bytes] = []

    def failover_after_first(item: PlannedAction) -> None:
        if len(acted) == 1:
            fail_over(replica, primary)
        acted.append(item.record.key)

    result = run_on(target, settings, ActionHooks(before_check=failover_after_first))
    assert result.count("done") == 1
    assert result.count("failed") == 0
    skipped = [o for o in result.outcomes if o.result == "skipped"]
    assert len(skipped) == 3
    assert all("moved to" in o.reason or "no longer a primary" in o.reason for o in skipped)
    survivors = [k for k in keys if replica.client().exists(k)]
    assert len(survivors) == 3  # on the new primary: nothing lost

    after = expand_targets(settings, acting=True)  # the next cycle sees the new primary
    assert any(t.url.endswith(f":{replica.port}") and t.role == "primary" for t in after)
    assert not any(t.url.endswith(f":{primary.port}") for t in after)


def test_the_run_lock_lands_on_each_primary(cluster: Cluster, tmp_path: Path) -> None:
    settings = settings_for(cluster.replicas[0].url, tmp_path)
    targets = expand_targets(settings, acting=True)
    assert sorted(t.url for t in targets) == sorted(p.url for p in cluster.primaries)
    for target in targets:
        key = lock_key(target)
        assert key.startswith(b"redis-janitor:lock:{")
        assert slot_in(key_slot(key), target.slots)
        lock = RedisLock(target, 10)
        assert lock.acquire()
        owner = next(p for p in cluster.primaries if target.url == p.url)
        assert owner.client().get(key) == lock.token
        lock.release()
        assert owner.client().exists(key) == 0
        target.close()


def test_cluster_nodes_and_cluster_shards_agree(cluster: Cluster) -> None:
    client = cluster.replicas[1].client()
    shards = read_cluster_nodes(client, (7, 0))  # CLUSTER SHARDS
    nodes = read_cluster_nodes(client, (6, 2))  # CLUSTER NODES, as before 7.0

    def view(found: list[ClusterNode]) -> set[tuple[str, int, str, str, tuple[Any, ...], bool]]:
        return {(n.node_id, n.port, n.role, n.shard_id, n.slots, n.myself) for n in found}

    assert view(shards) == view(nodes)
    assert len(view(nodes)) == 6
    (myself,) = [n for n in nodes if n.myself]
    assert myself.node_id == cluster.node_id(cluster.replicas[1])
