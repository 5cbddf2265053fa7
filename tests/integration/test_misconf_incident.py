"""The seed incident, reproduced on a real redis-server: the fork fails, writes get -MISCONF.

Fork failures come from the LD_PRELOAD library in tests/support/forkfail.c; the disk variant
removes the server's ``dir``. Nothing here writes to /proc/sys.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import redis

from janitor.adapters.redis.connection import redis_errors
from janitor.adapters.redis.info import read_persistence_state
from janitor.app.rescue.diagnosis import diagnose_misconf, persistence_section
from janitor.core.errors import ExitCode, WritesRefusedError
from janitor.domain.persistence import is_misconf_error
from tests.support.forkfail import (
    FORK_ENOMEM_LINE,
    MISCONF_CONFIG,
    FaultyRedis,
    FaultyRedisFactory,
    bgsave_finished,
    log_lines,
)
from tests.support.redis_server import RedisServer, wait_for
from tests.support.server_build import ServerBuild

REFUSED = [
    ("SET", "k", "v"),
    ("DEL", "k"),
    ("UNLINK", "k"),
    ("EXPIRE", "k", "10"),
    ("PING",),
]


def fail_bgsave(faulty: FaultyRedis) -> redis.Redis:
    """Make the fork fail and ask for a BGSAVE: the seed incident."""
    client = faulty.server.client()
    client.set("k", "v")
    faulty.faults.fail_forks()
    with pytest.raises(redis.ResponseError):
        client.bgsave()
    return client


def test_failed_fork_logs_the_exact_line_and_refuses_writes_with_misconf(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = fail_bgsave(faulty)

    assert bgsave_finished(client) == "err"
    assert any(line.endswith(f"# {FORK_ENOMEM_LINE}") for line in log_lines(faulty.server))
    assert faulty.faults.trace()[-1].startswith("fail ")
    for command in REFUSED:
        with pytest.raises(redis.ResponseError) as refused:
            client.execute_command(*command)
        assert str(refused.value).startswith("MISCONF"), command
        assert is_misconf_error(refused.value)
    assert client.get("k") == b"v"


def test_reads_introspection_and_config_set_stay_allowed_during_misconf(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = fail_bgsave(faulty)

    assert client.info("persistence")["rdb_last_bgsave_status"] == "err"
    assert client.scan(0, count=100)[1] == [b"k"]
    assert client.memory_usage("k") > 0
    assert client.config_set("slowlog-log-slower-than", "20000")
    assert client.config_get("slowlog-log-slower-than") == {"slowlog-log-slower-than": "20000"}


def test_persistence_state_says_writes_are_refused(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = faulty.server.client()
    assert read_persistence_state(client).writes_refused is False
    fail_bgsave(faulty)

    state = read_persistence_state(client)

    assert state.rdb_last_bgsave_status == "err"
    assert state.save_points == ["3600 1"]
    assert state.stop_writes_on_bgsave_error is True
    assert state.writes_refused is True
    assert state.to_dict()["writes_refused"] is True


def test_failed_save_without_save_points_does_not_refuse_writes(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory({"stop-writes-on-bgsave-error": "yes"})
    client = fail_bgsave(faulty)

    state = read_persistence_state(client)

    assert state.rdb_last_bgsave_status == "err"
    assert state.save_points == []
    assert state.writes_refused is False
    assert client.set("still", "writable")


def test_misconf_reply_to_ping_becomes_writes_refused_not_unavailable(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = fail_bgsave(faulty)

    with pytest.raises(WritesRefusedError) as refused, redis_errors("redis://test"):
        client.ping()

    assert refused.value.exit_code == ExitCode.CRITICAL
    assert "refuses writes (MISCONF)" in refused.value.message


def test_shutdown_nosave_stops_a_server_whose_fork_fails(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    fail_bgsave(faulty)

    faulty.server.stop()

    assert faulty.server.process is not None
    assert faulty.server.process.returncode == 0  # exited by itself, not SIGKILLed


def test_diagnosis_reads_fork_enomem_from_the_real_log(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = fail_bgsave(faulty)

    diagnosis = diagnose_misconf(client, local=True)

    assert diagnosis.cause == "fork_enomem"
    assert diagnosis.evidence[-1].endswith(FORK_ENOMEM_LINE)
    assert diagnosis.log_path == str(faulty.server.log_path)
    assert diagnosis.memory_helps


def fail_disk(server: RedisServer, data_dir: Path) -> redis.Redis:
    """Remove the server's ``dir`` and ask for a BGSAVE: the child cannot open its temp file."""
    client = server.client()
    client.set("k", "v")
    shutil.rmtree(data_dir)
    assert client.bgsave()
    assert bgsave_finished(client) == "err"
    return client


def test_disk_failure_refuses_writes_and_is_diagnosed_as_disk(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path, redis_build: ServerBuild
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    faulty = faulty_redis_factory({**MISCONF_CONFIG, "dir": str(data_dir)})
    client = fail_disk(faulty.server, data_dir)

    with pytest.raises(redis.ResponseError) as refused:
        client.set("k", "w")
    assert str(refused.value).startswith("MISCONF")
    diagnosis = diagnose_misconf(client, local=True)

    assert diagnosis.cause == "disk"
    # Redis 6.2 logs "Failed opening the RDB file temp-….rdb"; later ones "… the temp RDB file …".
    opening = (
        "Failed opening the temp RDB file"
        if redis_build.at_least(7, 0)
        else "Failed opening the RDB file"
    )
    assert opening in diagnosis.evidence[-1]
    assert "No such file or directory" in diagnosis.evidence[-1]
    assert not diagnosis.memory_helps
    assert "the save directory no longer exists" in diagnosis.message
    assert faulty.faults.trace()[-1].startswith("pass ")


def test_remote_instance_is_not_diagnosed_from_a_log(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = fail_bgsave(faulty)

    diagnosis = diagnose_misconf(client, local=False)

    assert diagnosis.cause == "unknown"
    assert "not on this host" in diagnosis.message


def test_persistence_section_carries_state_and_diagnosis(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = faulty.server.client()
    assert persistence_section(client, faulty.server.url)["diagnosis"] is None
    fail_bgsave(faulty)

    section = persistence_section(client, faulty.server.url)

    assert section["writes_refused"] is True
    assert section["rdb_last_bgsave_status"] == "err"
    assert section["save_points"] == ["3600 1"]
    assert section["diagnosis"]["cause"] == "fork_enomem"
    assert json.loads(json.dumps(section)) == section


def test_an_automatic_save_point_whose_fork_fails_turns_on_misconf(
    faulty_redis_factory: FaultyRedisFactory,
) -> None:
    faulty = faulty_redis_factory({"save": "1 1", "stop-writes-on-bgsave-error": "yes"})
    client = faulty.server.client()
    faulty.faults.fail_forks()
    client.set("k", "v")  # one change: the "1 1" save point is due a second later

    wait_for(
        lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err",
        timeout=10,
        what="the save point's BGSAVE to fail",
    )

    assert any(line.endswith(f"# {FORK_ENOMEM_LINE}") for line in log_lines(faulty.server))
    with pytest.raises(redis.ResponseError, match=r"^MISCONF"):
        client.set("k", "w")
    assert client.get("k") == b"v"
