"""Redis Cluster (3 primaries, 3 replicas, built without redis-cli): every command from every
node's URL; a run deletes each stale key of the whole cluster exactly once, on its primary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.topology import Cluster, reset, running_cluster

Run = Callable[..., CliResult]
DAY = 86400
STALE = [f"cache:old:{index}".encode() for index in range(24)]
FRESH = [f"cache:new:{index}".encode() for index in range(6)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def populate(cluster: Cluster) -> None:
    reset(cluster)
    for key in STALE:
        cluster.plant(key, 20_000, idle_seconds=40 * DAY)
    for key in FRESH:
        cluster.plant(key, 20_000)


def no_crash(result: CliResult) -> None:
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


def refused_on_replicas(cluster: Cluster) -> dict[str, object]:
    """Commands the replicas redirected or refused as writes (a write sent there shows here)."""
    found: dict[str, object] = {}
    for server in cluster.replicas:
        for name, value in server.client().info("errorstats").items():
            if name in ("errorstat_MOVED", "errorstat_ASK", "errorstat_READONLY"):
                found[f"{server.port}:{name}"] = value
    return found


def test_report_all_nodes_from_every_node(cluster: Cluster, run_cli: Run) -> None:
    populate(cluster)
    for node in cluster.nodes:
        result = run_cli("report", "--url", node.url, "--nodes", "all", "--format", "json")
        assert result.exit_code == 0, result.stderr
        document = result.json()
        instances = document["instances"]
        assert len(instances) == 6
        assert {i["node"]["role"] for i in instances} == {"primary", "replica"}
        assert {i["node"]["node_id"] for i in instances} == set(cluster.ids.values())
        primaries = [i for i in instances if i["node"]["role"] == "primary"]
        assert sum(i["scanned_keys"] for i in primaries) == len(STALE) + len(FRESH)
        for instance in instances:
            shard_primary = next(
                p for p in primaries if p["node"]["node_id"] == instance["node"]["shard"]
            )
            assert instance["scanned_keys"] == shard_primary["scanned_keys"]  # READONLY scan
        assert len(document["headroom"]["instances"]) == 6
        no_crash(result)
    text = run_cli("report", "--url", cluster.nodes[0].url, "--nodes", "all", "--top", "100")
    replica_id = cluster.node_id(cluster.replicas[0])[:8]
    assert f"{cluster.replicas[0].url} [replica, node {replica_id}, shard " in text.stdout
    assert "cache:new:1 " in text.stdout  # printed as is (":new:" is no emoji code here)


def test_headroom_dry_run_and_this_node_from_every_node(
    cluster: Cluster, run_cli: Run, tmp_path: Path
) -> None:
    populate(cluster)
    env = {"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")}
    for node in cluster.nodes:
        headroom = run_cli("headroom", "--url", node.url, "--format", "json")
        assert headroom.exit_code in (0, 1), headroom.stderr
        assert len(headroom.json()["instances"]) == 6  # all local: --nodes local is every node
        this = run_cli("report", "--url", node.url, "--nodes", "this", "--format", "json")
        (instance,) = this.json()["instances"]
        assert instance["node"]["node_id"] == cluster.node_id(node)
        dry = run_cli(
            "run", "--url", node.url, "--match", "cache:*", "--min-idle", "30d",
            "--action", "delete", "--dry-run", "--format", "json", env=env,
        )  # fmt: skip
        assert dry.exit_code == 0, dry.stderr
        assert sorted(a["key"].encode() for a in dry.json()["actions"]) == sorted(STALE)
        no_crash(dry)
    assert cluster.keys() == set(STALE + FRESH)
    assert refused_on_replicas(cluster) == {}


@pytest.mark.parametrize("index", range(6))
def test_run_from_any_node_deletes_every_stale_key_once(
    cluster: Cluster, run_cli: Run, tmp_path: Path, index: int
) -> None:
    populate(cluster)
    node = cluster.nodes[index]
    result = run_cli(
        "run", "--url", node.url, "--match", "cache:*", "--min-idle", "30d",
        "--action", "delete", "--yes", "--format", "json",
        env={"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    actions = result.json()["actions"]
    assert sorted(a["key"].encode() for a in actions) == sorted(STALE)  # each exactly once
    assert {a["result"] for a in actions} == {"done"}
    assert cluster.keys() == set(FRESH)
    assert refused_on_replicas(cluster) == {}
    for replica in cluster.replicas:  # acted on the primaries only: never scanned a replica
        assert "cmdstat_scan" not in replica.client().info("commandstats")
    no_crash(result)


def test_no_local_node_is_a_configuration_error(
    cluster: Cluster, run_cli: Run, tmp_path: Path
) -> None:
    empty_proc = tmp_path / "proc"
    empty_proc.mkdir()  # no redis-server process can be proven local
    env = {"JANITOR_HEADROOM__PROC_ROOT": str(empty_proc)}
    result = run_cli("report", "--url", cluster.nodes[0].url, env=env)
    assert result.exit_code == 78
    assert "redis.nodes: no node of the cluster" in result.stderr
    this = run_cli("report", "--url", cluster.nodes[0].url, "--nodes", "this", env=env)
    assert this.exit_code == 0, this.stderr


def test_archive_from_a_replica_url_archives_each_key_once(
    cluster: Cluster, run_cli: Run, tmp_path: Path
) -> None:
    populate(cluster)
    archive_dir = tmp_path / "archive"
    result = run_cli(
        "run", "--url", cluster.replicas[0].url, "--match", "cache:*", "--min-idle", "30d",
        "--action", "archive", "--archive-dir", str(archive_dir), "--yes", "--format", "json",
        env={"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    actions = result.json()["actions"]
    assert sorted(a["key"].encode() for a in actions) == sorted(STALE)
    assert {(a["result"], a["reason"]) for a in actions} == {("done", "archived")}
    assert cluster.keys() == set(FRESH)
    assert len(list(archive_dir.glob("*.rja"))) == 3  # one archive per primary
    assert refused_on_replicas(cluster) == {}


def test_restore_through_any_node_puts_each_key_back_on_its_owner(
    cluster: Cluster, run_cli: Run, tmp_path: Path
) -> None:
    """Archives of a cluster run restore through one node's URL: each key on its slot's owner."""
    populate(cluster)
    archive_dir = tmp_path / "archive"
    env = {"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")}
    archived = run_cli(
        "run", "--url", cluster.nodes[0].url, "--match", "cache:*", "--min-idle", "30d",
        "--action", "archive", "--archive-dir", str(archive_dir), "--yes", "--format", "json",
        env=env,
    )  # fmt: skip
    assert archived.exit_code == 0, archived.stderr
    assert cluster.keys() == set(FRESH)
    for node in (cluster.replicas[1], cluster.nodes[0]):  # a replica's URL restores too
        result = run_cli(
            "restore", "--url", node.url, str(archive_dir), "--yes", "--format", "json", env=env
        )
        no_crash(result)
        assert result.exit_code == 0, result.stderr
        document = result.json()
        if node is cluster.replicas[1]:
            assert document["restored"] == len(STALE) and document["failed"] == 0
        else:  # the second time every key is there already
            assert document["restored"] == 0 and document["skipped"] == len(STALE)
    assert cluster.keys() == set(STALE) | set(FRESH)
    assert refused_on_replicas(cluster) == {}
