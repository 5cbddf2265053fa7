"""Every command against a replica's URL (a standalone primary/replica pair): never a crash.

report/headroom scan the replica itself and say what its idle times mean; run/rescue/serve act
through its primary (the deletes replicate), or refuse with exit 69 when the primary is gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import RedisServer
from tests.support.topology import make_replica, wait_replicated

Run = Callable[..., CliResult]
DAY = 86400


@pytest.fixture
def pair(redis_factory: RedisFactory) -> tuple[RedisServer, RedisServer]:
    primary, replica = redis_factory(), redis_factory()
    make_replica(replica, primary)
    client = primary.client()
    for index in range(3):
        plant(client, f"cache:old:{index}", size=50_000, idle_seconds=40 * DAY)
    plant(client, "cache:fresh", size=50_000)
    wait_replicated(primary, replica)
    return primary, replica


def no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


def test_report_and_headroom_scan_the_replica(
    pair: tuple[RedisServer, RedisServer], run_cli: Run
) -> None:
    _primary, replica = pair
    report = run_cli("report", "--url", replica.url, "--format", "json")
    assert report.exit_code == 0, report.stderr
    (instance,) = report.json()["instances"]
    assert instance["url"] == replica.url
    assert instance["node"]["role"] == "replica"
    assert instance["scanned_keys"] == 4
    assert any("only reflect the reads it served" in w for w in instance["warnings"])
    headroom = run_cli("headroom", "--url", replica.url, "--format", "json")
    assert headroom.exit_code in (0, 1), headroom.stderr
    assert headroom.json()["instances"][0]["url"] == replica.url
    no_traceback(headroom)


def test_run_through_the_replica_acts_on_its_primary(
    pair: tuple[RedisServer, RedisServer], run_cli: Run, tmp_path: Path
) -> None:
    primary, replica = pair
    env = {"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")}
    args = ("--url", replica.url, "--match", "cache:*", "--min-idle", "30d", "--action", "delete")
    dry = run_cli("run", *args, "--dry-run", "--format", "json", env=env)
    assert dry.exit_code == 0, dry.stderr
    assert len(dry.json()["actions"]) == 3
    assert primary.client().dbsize() == 4
    result = run_cli("run", *args, "--yes", "--format", "json", env=env)
    assert result.exit_code == 0, result.stderr
    assert [a["result"] for a in result.json()["actions"]] == ["done"] * 3
    assert primary.client().keys("cache:old:*") == []
    wait_replicated(primary, replica)
    assert replica.client().keys("cache:*") == [b"cache:fresh"]
    no_traceback(result)


def test_rescue_and_serve_once_on_a_replica_url(
    pair: tuple[RedisServer, RedisServer], run_cli: Run, tmp_path: Path
) -> None:
    primary, replica = pair
    env = {
        "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
        "JANITOR_RESCUE__STATE_DIR": str(tmp_path / "rescue"),
        "JANITOR_POLICY__GOAL": "all",
        "JANITOR_POLICY__RULES": json.dumps(
            [{"name": "old", "match": ["cache:*"], "min_idle": "30d", "action": "delete"}]
        ),
    }
    rescue = run_cli("rescue", "--url", replica.url, "--yes", "--format", "json", env=env)
    assert rescue.exit_code == 0, rescue.stderr  # the primary saves fine: nothing to rescue
    no_traceback(rescue)
    serve = run_cli("serve", "--once", "--url", replica.url, env=env)
    assert serve.exit_code == 0, serve.stderr
    assert primary.client().exists("cache:old:0", "cache:old:1", "cache:old:2") == 0
    assert primary.client().exists("cache:fresh") == 1


def test_replica_whose_primary_is_gone_is_refused_with_69(
    pair: tuple[RedisServer, RedisServer], run_cli: Run, tmp_path: Path
) -> None:
    primary, replica = pair
    primary.stop()
    env = {"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")}
    args = ("--url", replica.url, "--match", "cache:*", "--action", "delete")
    for command in (("run", *args, "--yes"), ("run", *args, "--dry-run"), ("rescue", "--yes")):
        extra = () if command[0] == "run" else ("--url", replica.url)
        result = run_cli(*command, *extra, env=env)
        assert result.exit_code == 69, (command, result.stderr)
        assert "is a replica" in result.stderr
        assert "cannot be reached" in result.stderr
        no_traceback(result)
    serve = run_cli("serve", "--once", "--url", replica.url, env=env)
    assert serve.exit_code == 69, serve.stderr
    no_traceback(serve)
    assert replica.client().dbsize() == 4  # nothing changed
    report = run_cli("report", "--url", replica.url)
    assert report.exit_code == 0, report.stderr
