"""Is the instance on this host, and is INFO's pid that Redis?"""

from __future__ import annotations

from janitor.adapters.host.locality import is_redis_process, unproven_reason, url_is_local
from janitor.adapters.host.memory import ProcessMemory


def test_unix_socket_and_loopback_are_local() -> None:
    assert url_is_local("unix:///run/redis/redis.sock")
    assert url_is_local("redis://127.0.0.1:6379")
    assert url_is_local("redis://localhost:6379/2")
    assert url_is_local("rediss://[::1]:6380")


def test_foreign_address_is_not_local() -> None:
    assert not url_is_local("redis://192.0.2.10:6379")  # TEST-NET-1, never on this host
    assert not url_is_local("redis://no-such-host.invalid:6379")


def process(**fields: object) -> ProcessMemory:
    defaults: dict[str, object] = {
        "pid": 42,
        "exists": True,
        "name": "redis-server",
        "argv": ["/usr/bin/redis-server", "*:6379"],
        "start_ticks": 100_000,
    }
    return ProcessMemory(**{**defaults, **fields})  # type: ignore[arg-type]


def test_redis_or_valkey_by_comm_or_argv0() -> None:
    assert is_redis_process(process())
    assert is_redis_process(process(name="valkey-server", argv=[]))
    assert is_redis_process(process(name="redis-rdb-bgsa", argv=["redis-server *:6379"]))
    assert not is_redis_process(process(name="python3", argv=["python3", "x.py"]))


def test_start_time_must_agree_with_info_uptime() -> None:
    started = process(start_ticks=100_000)  # 1000 s after boot at 100 ticks/s
    assert unproven_reason(started, 500, 1500.0, 10, clock_ticks=100) is None
    assert unproven_reason(started, 509, 1500.0, 10, clock_ticks=100) is None
    reason = unproven_reason(started, 520, 1500.0, 10, clock_ticks=100)
    assert reason is not None and "a different process" in reason


def test_missing_or_foreign_pid_is_explained() -> None:
    missing = unproven_reason(process(exists=False), 500, 1500.0, 10)
    assert missing is not None and "does not exist here" in missing
    other = unproven_reason(process(name="bash", argv=["bash"]), 500, 1500.0, 10)
    assert other is not None and "not a redis-server" in other
    unknown = unproven_reason(process(start_ticks=None), 500, 1500.0, 10)
    assert unknown is not None and "cannot compare" in unknown
