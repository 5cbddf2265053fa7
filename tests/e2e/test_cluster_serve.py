"""``serve`` on a Redis Cluster across a CLUSTER FAILOVER; metrics carry role and shard."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from janitor.domain.topology import key_slot, slot_in
from tests.conftest import CLI, clean_env
from tests.support.redis_server import wait_for
from tests.support.topology import RANGES, Cluster, fail_over, running_cluster

DAY = 86400
RULES = json.dumps([{"name": "old", "match": ["cache:*"], "min_idle": "30d", "action": "delete"}])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path / "cluster") as running:
        yield running


def events(log: Path, name: str) -> list[dict[str, Any]]:
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    return [event for event in map(json.loads, lines) if event["event"] == name]


def scanned_series(textfile: Path) -> dict[str, dict[str, str]]:
    """instance → labels of the ``scanned_keys`` series."""
    if not textfile.exists():
        return {}
    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
    family = families.get("redis_janitor_scanned_keys")
    return {s.labels["instance"]: s.labels for s in family.samples} if family else {}


def key_in_first_shard(number: int) -> bytes:
    while True:
        key = f"cache:{number}".encode()
        if slot_in(key_slot(key), [RANGES[0]]):
            return key
        number += 1


def test_serve_keeps_working_across_a_cluster_failover(cluster: Cluster, tmp_path: Path) -> None:
    primary, replica = cluster.primaries[0], cluster.replicas[0]
    log, textfile = tmp_path / "serve.log", tmp_path / "janitor.prom"
    env = clean_env(
        {
            "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
            "JANITOR_POLICY__GOAL": "all",
            "JANITOR_POLICY__RULES": RULES,
        }
    )
    first = key_in_first_shard(0)
    cluster.plant(first, 10_000, idle_seconds=40 * DAY)
    args = ["--url", cluster.replicas[1].url, "--every", "1s", "--metrics-textfile", str(textfile)]
    with log.open("wb") as stderr:
        daemon = subprocess.Popen(
            [CLI, "serve", *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        wait_for(lambda: primary.client().exists(first) == 0, timeout=30, what="first delete")
        wait_for(lambda: len(scanned_series(textfile)) == 3, timeout=30, what="metrics")
        series = scanned_series(textfile)
        assert series[primary.url]["role"] == "primary"
        assert series[primary.url]["shard"] == cluster.node_id(primary)

        fail_over(replica, primary)
        second = key_in_first_shard(int(first.split(b":")[1]) + 1)
        cluster.plant(second, 10_000, idle_seconds=40 * DAY)
        wait_for(lambda: replica.client().exists(second) == 0, timeout=30, what="delete after")
        wait_for(
            lambda: scanned_series(textfile).get(replica.url, {}).get("role") == "primary",
            timeout=30,
            what="the new primary in the metrics",
        )
        finished = len(events(log, "cycle.finished"))
        wait_for(lambda: len(events(log, "cycle.finished")) > finished + 1, timeout=30)
        assert daemon.poll() is None
        assert events(log, "cycle.finished")[-1]["exit_code"] == 0
        assert not events(log, "cycle.crashed")
        assert scanned_series(textfile)[replica.url]["shard"] == cluster.node_id(replica)
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
