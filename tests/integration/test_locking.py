"""One cycle per instance at a time: flock + Redis lock, renewal, owner-only release, MISCONF."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
import structlog

from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.lock import LOCK_KEY, RedisLock, instance_lock
from janitor.config.settings import Settings, load_settings
from janitor.core.errors import LockHeldError
from tests.conftest import RedisFactory
from tests.support.redis_server import RedisServer, wait_for


def settings_for(server: RedisServer, lock_ttl: str = "60s") -> Settings:
    return load_settings(
        None, {"redis": {"urls": [server.url]}, "service": {"lock_ttl": lock_ttl}}, environ={}
    )


def target(server: RedisServer, settings: Settings) -> RedisTarget:
    return RedisTarget(server.url, settings)


def try_lock(server: RedisServer, settings: Settings, lock_dir: Path) -> None:
    """Take and release the instance lock, as a competing run would."""
    with instance_lock(target(server, settings), settings, lock_dir=lock_dir):
        pass


def test_second_lock_on_the_same_instance_is_refused(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = settings_for(redis_server)
    with instance_lock(target(redis_server, settings), settings, lock_dir=tmp_path) as held:
        assert held.redis_locked
        token = redis_server.client().get(LOCK_KEY)
        assert token is not None and b":" in token
        with pytest.raises(LockHeldError) as refused:
            try_lock(redis_server, settings, tmp_path)
        assert refused.value.exit_code == 75
        assert "local lock" in refused.value.message
    assert redis_server.client().exists(LOCK_KEY) == 0  # released by its owner


def test_redis_lock_also_guards_other_hosts(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = settings_for(redis_server)
    lock_a = instance_lock(target(redis_server, settings), settings, lock_dir=tmp_path / "host-a")
    with lock_a, pytest.raises(LockHeldError, match="Redis lock"):
        try_lock(redis_server, settings, tmp_path / "host-b")


def test_slow_run_keeps_its_lock_by_renewal(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = settings_for(redis_server, lock_ttl="1.5s")  # renewed every 0.5 s
    client = redis_server.client()
    started = time.monotonic()
    with instance_lock(target(redis_server, settings), settings, lock_dir=tmp_path / "a") as held:
        assert held.redis_lock is not None
        token = client.get(LOCK_KEY)

        def still_ours_after_two_ttls() -> bool:
            assert client.get(LOCK_KEY) == token  # never expired, never taken over
            with pytest.raises(LockHeldError):
                try_lock(redis_server, settings, tmp_path / "b")
            return time.monotonic() - started > 3.0 and held.redis_lock.renewals >= 5

        wait_for(still_ours_after_two_ttls, timeout=15, what="renewals past two TTLs")
        assert not held.lost.is_set()
    assert client.exists(LOCK_KEY) == 0


def test_release_never_deletes_someone_elses_lock(redis_server: RedisServer) -> None:
    settings = settings_for(redis_server)
    lock = RedisLock(target(redis_server, settings), 60)
    assert lock.acquire()
    redis_server.client().set(LOCK_KEY, b"other-host:1:token")  # e.g. ours expired, theirs now
    assert not lock.renew()
    assert lock.lost.is_set()
    lock.release()
    assert redis_server.client().get(LOCK_KEY) == b"other-host:1:token"


def test_misconf_falls_back_to_the_local_lock(redis_factory: RedisFactory, tmp_path: Path) -> None:
    rdb_dir = tmp_path / "rdb"
    rdb_dir.mkdir()
    server = redis_factory({"save": "3600 1", "dir": str(rdb_dir)})
    client = server.client()
    rdb_dir.rmdir()  # the BGSAVE child cannot create its temp file: a real failed BGSAVE
    client.bgsave()
    wait_for(
        lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err", what="bgsave err"
    )
    settings = settings_for(server)

    lock_dir = tmp_path / "locks"
    with (
        structlog.testing.capture_logs() as events,
        instance_lock(target(server, settings), settings, lock_dir=lock_dir) as held,
    ):
        assert not held.redis_locked
        with pytest.raises(LockHeldError, match="local lock"):
            try_lock(server, settings, lock_dir)

    skipped = [event for event in events if event["event"] == "lock.redis_lock_skipped"]
    assert skipped
    assert "refuses writes (MISCONF)" in skipped[0]["reason"]
    assert client.exists(LOCK_KEY) == 0


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_lock_left_by_a_dead_run_on_this_host_is_taken_over_at_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = settings_for(redis_server)
    stale = f"{socket.gethostname()}:{_dead_pid()}:0123abcd".encode()
    redis_server.client().set(LOCK_KEY, stale, px=600_000)
    with instance_lock(target(redis_server, settings), settings, lock_dir=tmp_path) as held:
        assert held.redis_locked
        assert redis_server.client().get(LOCK_KEY) != stale
    assert redis_server.client().exists(LOCK_KEY) == 0


@pytest.mark.parametrize("holder", ["other-host:{dead}:ab", "{host}:{alive}:ab", "{host}:x:ab"])
def test_a_lock_whose_holder_may_be_alive_is_still_refused(
    redis_server: RedisServer, tmp_path: Path, holder: str
) -> None:
    settings = settings_for(redis_server)
    with subprocess.Popen(["sleep", "60"]) as alive:
        token = holder.format(host=socket.gethostname(), dead=_dead_pid(), alive=alive.pid)
        redis_server.client().set(LOCK_KEY, token.encode(), px=600_000)
        try:
            with pytest.raises(LockHeldError, match="Redis lock"):
                try_lock(redis_server, settings, tmp_path)
        finally:
            alive.kill()
    assert redis_server.client().get(LOCK_KEY) == token.encode()
