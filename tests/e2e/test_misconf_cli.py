"""MISCONF in every command: ``headroom``/``report`` show it, ``run`` refuses or rescues.

Servers run with the fork-failure library (docs/domain.md §6); nothing touches /proc/sys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from janitor.adapters.files.rescue_record import pending_restores
from tests.conftest import CliResult
from tests.support.forkfail import FORK_ENOMEM_LINE, MISCONF_CONFIG, FaultyRedisFactory
from tests.support.incident import (
    ARCHIVE_STALE,
    FREEING_LOWERS_RSS,
    dumps,
    plant_incident,
    save_settings,
    write_config,
)
from tests.support.redis_server import wait_for

Run = Callable[..., CliResult]
REPO_ROOT = Path(__file__).parents[2]
CHILD = [sys.executable, "-m", "tests.support.rescue_child"]


def test_headroom_json_shows_writes_refused_and_the_diagnosis(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    plant_incident(faulty)

    result = run_cli("headroom", "--url", faulty.server.url, "--format", "json")

    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["verdict"] == "critical"
    (instance,) = document["instances"]
    persistence = instance["persistence"]
    assert persistence["writes_refused"] is True
    assert persistence["rdb_last_bgsave_status"] == "err"
    assert persistence["diagnosis"]["cause"] == "fork_enomem"
    assert persistence["diagnosis"]["evidence"][-1].endswith(FORK_ENOMEM_LINE)
    assert instance["verdict"] == "critical"
    assert instance["reasons"][0].startswith("writes refused (MISCONF)")
    assert "redis-janitor rescue" in instance["reasons"][0]


def test_headroom_text_says_what_is_wrong_and_what_to_do(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    plant_incident(faulty)

    result = run_cli("headroom", "--url", faulty.server.url)

    assert result.exit_code == 2
    assert "writes refused (MISCONF)" in result.stdout
    assert FORK_ENOMEM_LINE in result.stdout
    assert "Redis down" not in result.stdout + result.stderr


def test_headroom_of_a_healthy_instance_has_a_clean_persistence_section(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)

    result = run_cli("headroom", "--url", faulty.server.url, "--format", "json")

    persistence = result.json()["instances"][0]["persistence"]
    assert persistence["writes_refused"] is False
    assert persistence["diagnosis"] is None
    assert persistence["message"] is None


def test_report_json_shows_the_persistence_section(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    plant_incident(faulty)

    result = run_cli("report", "--url", faulty.server.url, "--format", "json")

    assert result.exit_code == 0, result.stderr
    document = result.json()
    persistence = document["instances"][0]["persistence"]
    assert persistence["writes_refused"] is True
    assert persistence["diagnosis"]["cause"] == "fork_enomem"
    assert document["headroom"]["verdict"] == "critical"


def test_run_on_a_misconf_instance_deletes_nothing_and_says_to_rescue(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, fresh = plant_incident(faulty)

    result = run_cli(
        "run", "--config", str(write_config(tmp_path)), "--url", faulty.server.url,
        "--yes", "--format", "json", "--match", "*", "--action", "delete",
    )  # fmt: skip

    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["actions"] == []
    (error,) = document["errors"]
    assert "writes refused (MISCONF)" in error["message"]
    assert "Nothing was deleted" in error["message"]
    assert "redis-janitor rescue" in error["hint"]
    assert error["persistence"]["writes_refused"] is True
    assert error["persistence"]["diagnosis"]["cause"] == "fork_enomem"
    assert "redis-janitor rescue" in result.stderr
    assert dumps(client, list(stale)) == stale
    assert dumps(client, list(fresh)) == fresh
    assert save_settings(client) == ("yes", "3600 1")


@FREEING_LOWERS_RSS
def test_run_with_rescue_enabled_rescues_a_misconf_instance(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, fresh = plant_incident(faulty)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[rescue]", "[rescue]\nenabled = true"))

    result = run_cli(
        "run", "--config", str(config), "--url", faulty.server.url, "--yes",
        "--format", "json", *ARCHIVE_STALE, "--archive-dir", str(tmp_path / "archive"),
    )  # fmt: skip

    assert result.exit_code == 0, result.stdout + result.stderr
    rescue = result.json()["rescue"]
    assert rescue["misconf_before"] is True
    assert rescue["misconf_after"] is False
    assert rescue["bgsave_status"] == "ok"
    assert rescue["config_restored"] is True
    assert any(action["result"] == "done" for action in rescue["actions"])
    assert save_settings(client) == ("yes", "3600 1")
    assert client.set("probe", "1")
    assert dumps(client, list(fresh)) == fresh
    assert any(client.exists(key) for key in stale)  # goal headroom: only what the fork needed


@pytest.fixture
def killed_rescue(tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """Run a rescue in a child process, paused after lifting the block, and SIGKILL it there."""
    children: list[subprocess.Popen[bytes]] = []

    def run_and_kill(url: str) -> None:
        marker = tmp_path / "block-lifted"
        child = subprocess.Popen(
            [*CHILD, url, str(tmp_path / "state"), str(marker)],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        children.append(child)
        wait_for(marker.exists, timeout=30, what="the child rescue to lift the block")
        child.kill()
        child.wait(timeout=10)

    yield run_and_kill
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_a_killed_rescue_is_finished_by_the_next_run(
    faulty_redis_factory: FaultyRedisFactory,
    run_cli: Run,
    tmp_path: Path,
    killed_rescue: Callable[[str], None],
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, _ = plant_incident(faulty)
    killed_rescue(faulty.server.url)
    assert save_settings(client) == ("no", "3600 1")  # left lifted by the killed rescue
    assert client.set("written-while-lifted", "1")

    result = run_cli(
        "run", "--config", str(write_config(tmp_path)), "--url", faulty.server.url,
        "--yes", "--format", "json", "--match", "*", "--action", "delete",
    )  # fmt: skip

    document = result.json()
    (pending,) = document["pending_restores"]
    assert pending["restored"] is True
    assert pending["message"] == "original settings restored"
    assert save_settings(client) == ("yes", "3600 1")
    assert not pending_restores(tmp_path / "state")
    assert result.exit_code == 2  # the save still fails: writes are refused again, nothing deleted
    assert "writes refused (MISCONF)" in document["errors"][0]["message"]
    assert dumps(client, list(stale)) == stale
    with pytest.raises(redis.ResponseError, match=r"^MISCONF"):
        client.set("probe", "1")


@FREEING_LOWERS_RSS
def test_serve_once_with_rescue_enabled_rescues_a_misconf_instance(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, fresh = plant_incident(faulty)
    rule = {"name": "stale", "match": ["stale:*"], "min_idle": "30d", "action": "archive"}
    env = {
        "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "locks"),
        "JANITOR_ARCHIVE__DIR": str(tmp_path / "archive"),
        "JANITOR_POLICY__RULES": json.dumps([rule]),
        "JANITOR_RESCUE__ENABLED": "true",
        "JANITOR_RESCUE__STATE_DIR": str(tmp_path / "state"),
        "JANITOR_RESCUE__ROUND_BYTES": "4MiB",
    }

    result = run_cli("serve", "--once", "--url", faulty.server.url, env=env)

    assert result.exit_code == 0, result.stderr
    assert save_settings(client) == ("yes", "3600 1")
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    assert client.set("probe", "1")
    assert dumps(client, list(fresh)) == fresh
    assert any(client.exists(key) for key in stale)


def test_serve_once_without_rescue_enabled_deletes_nothing_and_exits_2(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, _ = plant_incident(faulty)
    rule = {"name": "stale", "match": ["stale:*"], "action": "delete"}
    env = {
        "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "locks"),
        "JANITOR_POLICY__RULES": json.dumps([rule]),
        "JANITOR_RESCUE__STATE_DIR": str(tmp_path / "state"),
    }

    result = run_cli("serve", "--once", "--url", faulty.server.url, env=env)

    assert result.exit_code == 2, result.stderr
    assert "redis-janitor rescue" in result.stderr
    assert dumps(client, list(stale)) == stale


def test_a_killed_rescue_is_finished_by_serve_once(
    faulty_redis_factory: FaultyRedisFactory,
    run_cli: Run,
    tmp_path: Path,
    killed_rescue: Callable[[str], None],
) -> None:
    """After a watchdog kill, the restarted worker must put the lifted settings back first."""
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = plant_incident(faulty)
    killed_rescue(faulty.server.url)
    assert save_settings(client) == ("no", "3600 1")  # left lifted by the killed rescue

    result = run_cli(
        "serve", "--once", "--config", str(write_config(tmp_path)), "--url", faulty.server.url
    )

    assert save_settings(client) == ("yes", "3600 1")
    assert not pending_restores(tmp_path / "state")
    assert result.exit_code == 2  # the save still fails: writes are refused again
