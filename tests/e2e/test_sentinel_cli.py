"""``redis+sentinel://`` URLs: the service's current primary, and ``serve`` across a failover."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLI, CliResult, RedisFactory, clean_env
from tests.support.keys import plant
from tests.support.redis_server import RedisServer, wait_for
from tests.support.topology import Sentinel, make_replica, wait_replicated

Run = Callable[..., CliResult]
DAY = 86400
RULES = json.dumps([{"name": "old", "match": ["cache:*"], "min_idle": "30d", "action": "delete"}])


@pytest.fixture
def watched(
    redis_factory: RedisFactory, tmp_path: Path
) -> Iterator[tuple[RedisServer, RedisServer, Sentinel]]:
    primary, replica = redis_factory(), redis_factory()
    make_replica(replica, primary)
    sentinel = Sentinel(tmp_path / "sentinel").start(primary)
    wait_for(
        lambda: sentinel.client().execute_command("SENTINEL", "REPLICAS", "mymaster"),
        timeout=30,
        what="the sentinel to know the replica",
    )
    yield primary, replica, sentinel
    sentinel.stop()


def events(log: Path, name: str) -> list[dict[str, Any]]:
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    return [event for event in map(json.loads, lines) if event["event"] == name]


def test_bad_sentinel_url_is_78_and_masks_the_password(run_cli: Run) -> None:
    result = run_cli("report", "--url", "redis+sentinel://u:hunter2@127.0.0.1/mymaster")
    assert result.exit_code == 78
    assert "redis.urls: " in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_config_check_masks_a_sentinel_url(run_cli: Run) -> None:
    url = "redis+sentinel://u:hunter2@10.0.0.1:26379,10.0.0.2:26379/mymaster/1"
    result = run_cli("config", "check", "--url", url)
    assert result.exit_code == 0, result.stderr
    assert "redis+sentinel://u:***@10.0.0.1:26379,10.0.0.2:26379/mymaster/1" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_report_and_run_use_the_current_primary(
    watched: tuple[RedisServer, RedisServer, Sentinel], run_cli: Run, tmp_path: Path
) -> None:
    primary, replica, sentinel = watched
    plant(primary.client(), "cache:old", size=10_000, idle_seconds=40 * DAY)
    url = f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster"
    report = run_cli("report", "--url", url, "--format", "json")
    assert report.exit_code == 0, report.stderr
    (instance,) = report.json()["instances"]
    assert instance["url"] == primary.url
    assert instance["node"] == {"role": "primary", "node_id": None, "shard": None, "given": url}
    env = {"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")}
    run = run_cli("run", "--url", url, "--match", "cache:*", "--action", "delete", "--yes", env=env)
    assert run.exit_code == 0, run.stderr
    assert primary.client().exists("cache:old") == 0
    everything = run_cli("report", "--url", url, "--nodes", "all", "--format", "json")
    assert everything.exit_code == 0, everything.stderr
    scanned = {(i["url"], i["node"]["role"]) for i in everything.json()["instances"]}
    assert scanned == {(primary.url, "primary"), (replica.url, "replica")}
    unknown = run_cli("report", "--url", f"redis+sentinel://127.0.0.1:{sentinel.port}/nope")
    assert unknown.exit_code == 69
    assert "does not know the service 'nope'" in unknown.stderr


def test_serve_follows_a_sentinel_failover(
    watched: tuple[RedisServer, RedisServer, Sentinel], tmp_path: Path
) -> None:
    primary, replica, sentinel = watched
    url = f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster"
    log = tmp_path / "serve.log"
    env = clean_env(
        {
            "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
            "JANITOR_POLICY__GOAL": "all",
            "JANITOR_POLICY__RULES": RULES,
        }
    )
    plant(primary.client(), "cache:before", size=10_000, idle_seconds=40 * DAY)
    with log.open("wb") as stderr:
        daemon = subprocess.Popen(
            [CLI, "serve", "--url", url, "--every", "1s"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            cwd=tmp_path,
        )
    try:
        wait_for(lambda: primary.client().exists("cache:before") == 0, timeout=30, what="delete")
        wait_replicated(primary, replica)
        sentinel.client().execute_command("SENTINEL", "FAILOVER", "mymaster")
        wait_for(lambda: sentinel.primary()[1] == replica.port, timeout=30, what="failover")
        wait_for(
            lambda: replica.client().execute_command("ROLE")[0] == b"master",
            timeout=30,
            what="the replica promoted",
        )
        plant(replica.client(), "cache:after", size=10_000, idle_seconds=40 * DAY)
        wait_for(lambda: replica.client().exists("cache:after") == 0, timeout=30, what="delete")
        finished = len(events(log, "cycle.finished"))
        wait_for(lambda: len(events(log, "cycle.finished")) > finished + 1, timeout=30)
        assert daemon.poll() is None  # still serving
        assert events(log, "cycle.finished")[-1]["exit_code"] == 0
        assert not events(log, "cycle.crashed")
        primaries = {e["primary"] for e in events(log, "topology.sentinel_primary")}
        assert primaries == {f"127.0.0.1:{primary.port}", f"127.0.0.1:{replica.port}"}
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
