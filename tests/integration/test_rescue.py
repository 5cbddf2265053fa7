"""MISCONF rescue against real redis-servers whose fork fails while their RSS is too high.

The free step is injected (the policy engine is another module): here it unlinks test keys.
The headroom check stands in for the model: the server's VmRSS against the library's limit.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from janitor.adapters.files.rescue_record import (
    OriginalSettings,
    instance_key,
    pending_restores,
    read_record,
    record_originals,
    state_file_name,
)
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.info import read_persistence_state
from janitor.app.rescue.outcome import summary_lines
from janitor.app.rescue.procedure import RescueOutcome, finish_pending_reverts, rescue_instance
from janitor.app.rescue.revert import rescue_still_running
from janitor.config.settings import Settings, load_settings
from janitor.core.errors import LockHeldError, RedisPermissionError
from janitor.core.logs import configure_logging
from tests.support.forkfail import (
    MISCONF_CONFIG,
    FaultyRedis,
    FaultyRedisFactory,
    bgsave_finished,
)
from tests.support.redis_server import wait_for

BIG_KEYS = 48
BIG_VALUE_BYTES = 1 << 20
KEYS_PER_ROUND = 8
RSS_MARGIN_BYTES = 2 << 20


def settings_for(faulty: FaultyRedis, state_dir: Path, probe_with_bgsave: bool = True) -> Settings:
    rescue = {
        "state_dir": str(state_dir),
        "bgsave_timeout": "30s",
        "probe_with_bgsave": probe_with_bgsave,
    }
    overrides = {"redis": {"urls": [faulty.server.url]}, "rescue": rescue}
    return load_settings(None, overrides=overrides, environ={})


def target_for(settings: Settings) -> RedisTarget:
    return RedisTarget(settings.redis.urls[0], settings)


def fill(client: redis.Redis) -> dict[bytes, bytes]:
    """Plant big deletable keys and small keys that must survive; return DUMPs of the latter."""
    for index in range(BIG_KEYS):
        client.set(f"big:{index}", os.urandom(BIG_VALUE_BYTES))
    for index in range(20):
        client.hset(f"keep:{index}", mapping={"field": f"value {index}", "n": index})
    return {key: client.dump(key) for key in client.scan_iter(match="keep:*")}


def unlink_big_keys(client: redis.Redis, freed_log: list[int]) -> Callable[[int], int]:
    """A free step that unlinks up to KEYS_PER_ROUND big keys per call."""

    def free_memory(needed_bytes: int) -> int:
        batch = sorted(client.scan_iter(match="big:*", count=1000))[:KEYS_PER_ROUND]
        if not batch:
            return 0
        freed = sum(int(client.memory_usage(key) or 0) for key in batch)
        client.unlink(*batch)
        freed_log.append(freed)
        return freed

    return free_memory


def settings_now(client: redis.Redis) -> tuple[str, str]:
    config = client.config_get("stop-writes-on-bgsave-error")
    save = client.config_get("save")
    return config["stop-writes-on-bgsave-error"], save["save"]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Capture the janitor's log lines (console format) for the duration of one test."""
    stream = io.StringIO()
    configure_logging("info", "console", stream=stream)
    yield stream
    configure_logging()


def misconf_with_rss_limit(faulty: FaultyRedis) -> tuple[redis.Redis, dict[bytes, bytes], int]:
    """Fill the server, limit forks to half the data's RSS, and fail a BGSAVE (MISCONF)."""
    client = faulty.server.client()
    empty_rss = faulty.rss_bytes()
    survivors = fill(client)
    full_rss = faulty.rss_bytes()
    limit = empty_rss + (full_rss - empty_rss) // 2
    faulty.faults.limit_rss(limit)
    with pytest.raises(redis.ResponseError):
        client.bgsave()
    assert bgsave_finished(client) == "err"
    with pytest.raises(redis.ResponseError, match=r"^MISCONF"):
        client.set("probe", "1")
    return client, survivors, limit


def test_rescue_frees_memory_until_the_model_says_the_fork_fits_then_saves(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path, log_stream: io.StringIO
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, survivors, limit = misconf_with_rss_limit(faulty)
    settings = settings_for(faulty, tmp_path / "state", probe_with_bgsave=False)
    freed_log: list[int] = []

    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=unlink_big_keys(client, freed_log),
        headroom_ok=lambda: faulty.rss_bytes() < limit - RSS_MARGIN_BYTES,
        dry_run=False,
    )

    summary = summary_lines(outcome)
    print(log_stream.getvalue(), *faulty.faults.trace(), *summary, sep="\n")  # pytest -s
    assert summary[0].startswith(f"{faulty.server.url}: rescued — BGSAVE ok, writes accepted")
    assert outcome.exit_code == 0, outcome.to_dict()
    assert outcome.misconf_before is True
    assert outcome.diagnosis is not None
    assert outcome.diagnosis["cause"] == "fork_enomem"
    assert outcome.bgsave_status == "ok"
    assert outcome.config_restored is True
    assert outcome.misconf_after is False
    assert outcome.freed_bytes == sum(freed_log) > 0
    assert outcome.rounds == len(freed_log) >= 2
    assert settings_now(client) == ("yes", "3600 1")
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    assert client.set("probe", "1")
    assert {key: client.dump(key) for key in survivors} == survivors
    assert (faulty.server.workdir / "dump.rdb").is_file()
    assert faulty.faults.trace()[-1].startswith("pass ")
    record = read_record(tmp_path / "state", instance_key(faulty.server.url))
    assert record is not None
    assert record.status == "complete"
    assert record.original.stop_writes_on_bgsave_error == "yes"
    lines = log_stream.getvalue().splitlines()
    events = [line.split("] ", 1)[1].split()[0] for line in lines if "] rescue." in line]
    assert events[:4] == [
        "rescue.diagnosed",
        "rescue.originals_recorded",
        "rescue.block_lifted",
        "rescue.freed",
    ]
    assert events[-4:] == [
        "rescue.bgsave_started",
        "rescue.bgsave_finished",
        "rescue.config_restored",
        "rescue.finished",
    ]


def test_rescue_probes_with_bgsave_when_the_model_wrongly_says_the_fork_fits(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path, log_stream: io.StringIO
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, survivors, _ = misconf_with_rss_limit(faulty)
    settings = settings_for(faulty, tmp_path / "state")
    freed_log: list[int] = []

    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=unlink_big_keys(client, freed_log),
        headroom_ok=lambda: True,  # what the model says in mode 0 on a recent kernel
        dry_run=False,
    )

    print(log_stream.getvalue(), *faulty.faults.trace(), *summary_lines(outcome), sep="\n")
    assert outcome.exit_code == 0, outcome.to_dict()
    assert outcome.bgsave_status == "ok"
    assert outcome.rounds == len(freed_log) >= 2
    verdicts = [line.split()[0] for line in faulty.faults.trace()]
    assert verdicts == ["fail"] * (outcome.rounds + 1) + ["pass"]
    assert settings_now(client) == ("yes", "3600 1")
    assert client.set("probe", "1")
    assert {key: client.dump(key) for key in survivors} == survivors


def test_without_probing_a_refused_fork_ends_the_rescue_without_freeing(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    settings = settings_for(faulty, tmp_path / "state", probe_with_bgsave=False)
    freed_log: list[int] = []

    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=unlink_big_keys(client, freed_log),
        headroom_ok=lambda: True,
        dry_run=False,
    )

    assert outcome.exit_code == 2
    assert outcome.bgsave_status == "refused"
    assert outcome.rounds == 0
    assert freed_log == []
    assert client.dbsize() == BIG_KEYS + 20
    assert settings_now(client) == ("yes", "3600 1")


def test_rescue_that_cannot_free_enough_exits_2_and_restores_the_settings(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, survivors, _ = misconf_with_rss_limit(faulty)
    faulty.faults.limit_rss(1)  # no amount of freeing gets below this
    settings = settings_for(faulty, tmp_path / "state")
    freed_log: list[int] = []

    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=unlink_big_keys(client, freed_log),
        headroom_ok=lambda: faulty.rss_bytes() < 1,
        need_to_free=lambda: faulty.rss_bytes(),
        dry_run=False,
    )

    assert outcome.exit_code == 2
    assert outcome.headroom_ok is False
    assert outcome.bgsave_status == "refused"
    assert outcome.rounds == BIG_KEYS // KEYS_PER_ROUND + 1  # the last round found nothing
    assert outcome.freed_bytes == sum(freed_log) > 0
    assert outcome.config_restored is True
    assert outcome.misconf_after is True
    assert settings_now(client) == ("yes", "3600 1")
    assert any("candidates ran out" in line for line in outcome.advice)
    assert not pending_restores(tmp_path / "state")
    with pytest.raises(redis.ResponseError, match=r"^MISCONF"):
        client.ping()
    assert {key: client.dump(key) for key in survivors} == survivors


def test_rescue_whose_bgsave_still_fails_exits_2_and_restores_the_settings(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    faulty.faults.fail_forks()
    settings = settings_for(faulty, tmp_path / "state")

    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=lambda needed: 0,
        headroom_ok=lambda: True,  # the model is wrong: the fork still fails
        dry_run=False,
    )

    assert outcome.exit_code == 2
    assert outcome.bgsave_status == "refused"
    assert outcome.rounds == 1
    assert outcome.config_restored is True
    assert outcome.misconf_after is True
    assert settings_now(client) == ("yes", "3600 1")


def test_rescue_refuses_to_delete_anything_for_a_disk_error(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    faulty = faulty_redis_factory({**MISCONF_CONFIG, "dir": str(data_dir)})
    client = faulty.server.client()
    survivors = fill(client)
    shutil.rmtree(data_dir)
    assert client.bgsave()
    assert bgsave_finished(client) == "err"
    settings = settings_for(faulty, tmp_path / "state")
    calls: list[int] = []

    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=lambda needed: calls.append(needed) or 0,
        headroom_ok=lambda: False,
        dry_run=False,
    )

    assert outcome.exit_code == 2
    assert outcome.diagnosis is not None
    assert outcome.diagnosis["cause"] == "disk"
    assert calls == []
    assert outcome.block_lifted is False
    assert "Nothing was deleted" in outcome.advice[0]
    assert client.dbsize() == BIG_KEYS + len(survivors)
    assert settings_now(client) == ("yes", "3600 1")
    assert not (tmp_path / "state").exists()


def test_dry_run_changes_nothing(faulty_redis_factory: FaultyRedisFactory, tmp_path: Path) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    settings = settings_for(faulty, tmp_path / "state")
    calls: list[int] = []

    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=lambda needed: calls.append(needed) or 0,
        headroom_ok=lambda: False,
        dry_run=True,
    )

    assert outcome.exit_code == 2
    assert outcome.dry_run is True
    assert outcome.original_settings == {
        "stop_writes_on_bgsave_error": "yes",
        "save": "3600 1",
    }
    assert calls == []
    assert client.dbsize() == BIG_KEYS + 20
    assert settings_now(client) == ("yes", "3600 1")
    assert not (tmp_path / "state").exists()


def test_instance_whose_saves_work_needs_no_rescue(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    settings = settings_for(faulty, tmp_path / "state")

    outcome: RescueOutcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=lambda needed: 0,
        headroom_ok=lambda: True,
        dry_run=False,
    )

    assert outcome.exit_code == 0
    assert outcome.bgsave_status == "not_needed"
    assert outcome.misconf_before is False
    assert not (tmp_path / "state").exists()


def test_finish_pending_restores_puts_back_settings_left_changed(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    settings = settings_for(faulty, tmp_path / "state")
    other = RedisTarget("redis://10.255.0.1:6390", settings)
    record_originals(
        tmp_path / "state", instance_key(faulty.server.url), OriginalSettings("yes", "3600 1")
    )
    record_originals(tmp_path / "state", instance_key(other.url), OriginalSettings("yes", ""))
    client.config_set("stop-writes-on-bgsave-error", "no")

    results = finish_pending_reverts([target_for(settings)], tmp_path / "state")

    assert [(r.instance, r.restored) for r in results] == [
        (instance_key(faulty.server.url), True),
        (instance_key(other.url), False),
    ]
    assert settings_now(client) == ("yes", "3600 1")
    assert [r.instance for r in pending_restores(tmp_path / "state")] == [instance_key(other.url)]


REPO_ROOT = Path(__file__).parents[2]


PausedRescue = Callable[[FaultyRedis], "subprocess.Popen[str]"]


@pytest.fixture
def start_paused_rescue(tmp_path: Path) -> Iterator[PausedRescue]:
    """Run rescues in child processes paused after lifting the block; killed after the test."""
    children: list[subprocess.Popen[str]] = []

    def start(faulty: FaultyRedis) -> subprocess.Popen[str]:
        marker = tmp_path / "block-lifted"
        arguments = [faulty.server.url, str(tmp_path / "state"), str(marker)]
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.rescue_child", *arguments],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        children.append(child)
        wait_for(marker.exists, timeout=30, what="the child rescue to lift the block")
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)


def test_rescue_killed_after_lifting_the_block_is_finished_by_the_next_one(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path, start_paused_rescue: PausedRescue
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    child = start_paused_rescue(faulty)
    assert settings_now(client) == ("no", "3600 1")

    child.kill()
    child.communicate(timeout=10)

    assert settings_now(client) == ("no", "3600 1")  # left lifted by the killed rescue
    [pending] = pending_restores(tmp_path / "state")
    assert pending.original.stop_writes_on_bgsave_error == "yes"
    faulty.faults.allow_forks()
    settings = settings_for(faulty, tmp_path / "state")
    outcome = rescue_instance(
        target_for(settings),
        settings,
        free_memory=lambda needed: 0,
        headroom_ok=lambda: True,
        dry_run=False,
    )
    assert outcome.original_settings == {"stop_writes_on_bgsave_error": "yes", "save": "3600 1"}
    assert outcome.exit_code == 0, outcome.to_dict()
    assert settings_now(client) == ("yes", "3600 1")
    assert not pending_restores(tmp_path / "state")


def test_rescue_killed_after_lifting_the_block_is_finished_by_finish_pending_restores(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path, start_paused_rescue: PausedRescue
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    child = start_paused_rescue(faulty)

    child.kill()
    child.communicate(timeout=10)
    results = finish_pending_reverts(
        [target_for(settings_for(faulty, tmp_path / "state"))], tmp_path / "state"
    )

    assert [result.restored for result in results] == [True]
    assert settings_now(client) == ("yes", "3600 1")
    assert not pending_restores(tmp_path / "state")


def test_sigterm_during_a_rescue_restores_the_settings_before_exiting(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path, start_paused_rescue: PausedRescue
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    child = start_paused_rescue(faulty)

    child.terminate()
    stdout, _ = child.communicate(timeout=30)

    assert child.returncode == 2
    [outcome_line] = [line for line in stdout.splitlines() if line.startswith("outcome ")]
    outcome = json.loads(outcome_line.removeprefix("outcome "))
    assert outcome["interrupted"] is True
    assert outcome["config_restored"] is True
    assert outcome["misconf_after"] is True
    assert settings_now(client) == ("yes", "3600 1")
    assert not pending_restores(tmp_path / "state")


def test_a_pending_rescue_whose_process_still_runs_is_left_alone(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = misconf_with_rss_limit(faulty)
    settings = settings_for(faulty, tmp_path / "state")
    key = instance_key(faulty.server.url)
    live = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "redis-janitor", "rescue"]
    )
    try:
        record_originals(tmp_path / "state", key, OriginalSettings("yes", "3600 1"))
        path = tmp_path / "state" / state_file_name(key)
        path.write_text(json.dumps({**json.loads(path.read_text()), "pid": live.pid}))
        client.config_set("stop-writes-on-bgsave-error", "no")  # as the live rescue did

        [result] = finish_pending_reverts([target_for(settings)], tmp_path / "state")
        with pytest.raises(LockHeldError, match=f"pid {live.pid} is still running"):
            rescue_instance(
                target_for(settings),
                settings,
                free_memory=lambda needed: 0,
                headroom_ok=lambda: True,
                dry_run=False,
            )

        assert result.restored is False
        assert f"pid {live.pid} is still running" in result.message
        assert [r.pid for r in pending_restores(tmp_path / "state")] == [live.pid]
        assert settings_now(client) == ("no", "3600 1")  # left to the live rescue
    finally:
        live.kill()
        live.wait()
    assert not rescue_still_running(live.pid)
    assert not rescue_still_running(os.getpid())


def test_rescue_without_config_permission_is_refused_before_changing_anything(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory({**MISCONF_CONFIG, "requirepass": "admin-secret"})
    client, _, _ = misconf_with_rss_limit(faulty)
    client.acl_setuser(
        "janitor",
        enabled=True,
        passwords=["+janitor-pw"],
        keys=["*"],
        commands=["+@all", "-config"],
    )
    overrides = {
        "redis": {"urls": [faulty.server.url], "username": "janitor", "password": "janitor-pw"},
        "rescue": {"state_dir": str(tmp_path / "state")},
    }
    settings = load_settings(None, overrides=overrides, environ={})

    with pytest.raises(RedisPermissionError, match="CONFIG") as refused:
        rescue_instance(
            target_for(settings),
            settings,
            free_memory=lambda needed: 0,
            headroom_ok=lambda: True,
            dry_run=False,
        )

    assert refused.value.exit_code == 77
    assert settings_now(client) == ("yes", "3600 1")
    assert not (tmp_path / "state").exists()
    state = read_persistence_state(target_for(settings).client())
    assert state.save_points is None
    assert state.writes_refused is True
