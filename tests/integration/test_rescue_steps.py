"""The rescue's Redis steps against a real redis-server: BGSAVE with a deadline, purge, restore."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from janitor.adapters.files.rescue_record import OriginalSettings
from janitor.app.rescue.steps import (
    current_settings,
    lift_write_block,
    memory_purge,
    put_back_settings,
    run_bgsave,
)
from tests.conftest import RedisFactory
from tests.support.forkfail import MISCONF_CONFIG, FaultyRedisFactory, bgsave_finished, log_lines

SLOW_SAVE = {**MISCONF_CONFIG, "rdb-key-save-delay": "100000"}  # 100 ms per key


def plant_keys(client: redis.Redis, count: int) -> None:
    for index in range(count):
        client.set(f"key:{index}", "x")


def test_bgsave_that_outlasts_the_deadline_is_reported_as_timeout(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory(SLOW_SAVE)
    client = server.client()
    plant_keys(client, 10)

    assert run_bgsave(client, 0.3, dry_run=False) == "timeout"
    assert client.info("persistence")["rdb_bgsave_in_progress"] == 1
    assert bgsave_finished(client) == "ok"


def test_bgsave_waits_for_a_running_save_then_saves_again(redis_factory: RedisFactory) -> None:
    server = redis_factory(SLOW_SAVE)
    client = server.client()
    plant_keys(client, 3)
    assert client.bgsave()
    assert client.info("persistence")["rdb_bgsave_in_progress"] == 1

    assert run_bgsave(client, 30, dry_run=False) == "ok"
    # Every server logs each finished save (INFO's rdb_saves counter only exists from 7.0).
    finished = [
        line for line in log_lines(server) if "Background saving terminated with success" in line
    ]
    assert len(finished) == 2


def test_bgsave_whose_fork_fails_is_refused(faulty_redis_factory: FaultyRedisFactory) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    faulty.faults.fail_forks()

    assert run_bgsave(faulty.server.client(), 10, dry_run=False) == "refused"


def test_bgsave_whose_child_fails_is_err(redis_factory: RedisFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    client = redis_factory({**MISCONF_CONFIG, "dir": str(data_dir)}).client()
    shutil.rmtree(data_dir)

    assert run_bgsave(client, 10, dry_run=False) == "err"


def test_lift_and_restore_the_original_settings(redis_factory: RedisFactory) -> None:
    client = redis_factory(MISCONF_CONFIG).client()
    original = current_settings(client)
    assert original == OriginalSettings("yes", "3600 1")

    lift_write_block(client, dry_run=False)
    client.config_set("save", "")
    assert current_settings(client) == OriginalSettings("no", "")

    assert put_back_settings(client, original, dry_run=False) is True
    assert current_settings(client) == original
    assert memory_purge(client, dry_run=False) is True
