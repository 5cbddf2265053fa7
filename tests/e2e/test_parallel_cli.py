"""``scan.parallel_instances`` end to end: the installed command over several real servers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from janitor.adapters.files.rescue_record import pending_restores
from tests.conftest import CLI, CliResult, RedisFactory, clean_env
from tests.support.forkfail import MISCONF_CONFIG, FaultyRedisFactory, bgsave_finished
from tests.support.incident import (
    ARCHIVE_STALE,
    FREEING_LOWERS_RSS,
    plant_incident,
    save_settings,
    write_config,
)
from tests.support.keys import plant
from tests.support.redis_server import free_port

Run = Callable[..., CliResult]
DAY = 86400


def side_by_side(workers: int) -> dict[str, str]:
    return {"JANITOR_SCAN__PARALLEL_INSTANCES": str(workers)}


def test_run_dry_run_side_by_side_prints_the_sequential_document(
    redis_factory: RedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    servers = [redis_factory() for _ in range(3)]
    for count, server in zip((2, 3, 4), servers, strict=True):
        client = server.client()
        client.mset({f"small:{index}": "v" for index in range(500)})
        for index in range(count):
            plant(client, f"cache:{index}", size=30_000, idle_seconds=40 * DAY)
    down = f"redis://127.0.0.1:{free_port()}"
    order = [servers[0].url, down, *(server.url for server in servers[1:])]
    urls = [flag for url in order for flag in ("--url", url)]
    command = ("run", *urls, "--dry-run", "--format", "json", "--match", "cache:*")
    rule = ("--min-size", "10KB", "--action", "delete", "--goal", "all")
    env = {
        "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
        "JANITOR_REDIS__CONNECT_TIMEOUT": "1",
    }

    alone = run_cli(*command, *rule, env={**env, **side_by_side(1)})
    together = run_cli(*command, *rule, env={**env, **side_by_side(3)})

    assert together.exit_code == alone.exit_code == 2, together.stderr  # one instance down
    documents = [alone.json(), together.json()]
    assert documents[1]["actions"] == documents[0]["actions"]
    assert len(documents[1]["actions"]) == 9
    assert [e["instance"] for e in documents[1]["errors"]] == [down]
    instances = [entry["instance"] for entry in documents[1]["instances"]]
    assert instances == [server.url for server in servers]


@FREEING_LOWERS_RSS
def test_rescue_of_two_instances_side_by_side_brings_both_back(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    incidents = [faulty_redis_factory(MISCONF_CONFIG) for _ in range(2)]
    clients = [plant_incident(faulty)[0] for faulty in incidents]
    urls = [flag for faulty in incidents for flag in ("--url", faulty.server.url)]

    result = run_cli(
        "rescue", "--config", str(write_config(tmp_path)), *urls, "--yes", "--format", "json",
        *ARCHIVE_STALE, "--archive-dir", str(tmp_path / "archive"), env=side_by_side(2),
    )  # fmt: skip

    assert result.exit_code == 0, result.stdout + result.stderr
    document = result.json()
    assert [i["bgsave_status"] for i in document["instances"]] == ["ok", "ok"]
    for client in clients:
        assert save_settings(client) == ("yes", "3600 1")
        assert client.set("probe", "1")


def test_sigterm_stops_rescues_side_by_side_and_puts_the_settings_back(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    incidents = [faulty_redis_factory(MISCONF_CONFIG) for _ in range(2)]
    clients = [faulty.server.client() for faulty in incidents]
    for faulty, client in zip(incidents, clients, strict=True):
        plant(client, "stale:0", size=10_000, idle_seconds=40 * DAY)
        faulty.faults.fail_forks()
        with pytest.raises(redis.ResponseError):
            client.bgsave()
        assert bgsave_finished(client) == "err"
        faulty.faults.allow_forks()
        client.config_set("rdb-key-save-delay", "60000000")  # a rescue's BGSAVE takes a minute
    urls = [flag for faulty in incidents for flag in ("--url", faulty.server.url)]
    command = [CLI, "rescue", "--config", str(write_config(tmp_path)), *urls, "--yes"]
    rescue = subprocess.Popen(
        [*command, "--format", "json", "--match", "*", "--action", "delete"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(side_by_side(2)),
    )
    try:
        assert rescue.stderr is not None
        for line in rescue.stderr:  # JSON log lines; the pipe closes if the command exits
            if '"rescue.bgsave_started"' in line:
                break
        assert clients[0].info("persistence")["rdb_bgsave_in_progress"] == 1  # first in turn
        assert save_settings(clients[0]) == ("no", "3600 1")
        assert save_settings(clients[1]) == ("yes", "3600 1")  # waits for its turn

        rescue.terminate()
        stdout, _ = rescue.communicate(timeout=30)
    finally:
        if rescue.poll() is None:
            rescue.kill()
            rescue.communicate(timeout=10)

    assert rescue.returncode == 2
    document = json.loads(stdout)
    assert [i["interrupted"] for i in document["instances"]] == [True]  # the second never began
    assert document["config_restored"] is True
    assert [save_settings(client) for client in clients] == [("yes", "3600 1")] * 2
    assert not pending_restores(tmp_path / "state")
