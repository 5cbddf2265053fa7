"""Planting keys with a chosen idle time, type and size (``RESTORE … IDLETIME``)."""

from __future__ import annotations

import redis

SCRATCH_KEY = b"__janitor_test_scratch__"


def _build_value(client: redis.Redis, kind: str, size: int) -> None:
    client.delete(SCRATCH_KEY)
    if kind == "string":
        client.set(SCRATCH_KEY, b"x" * size)
    elif kind == "hash":
        client.hset(SCRATCH_KEY, mapping={f"f{i}": "v" * 16 for i in range(max(1, size // 24))})
    elif kind == "list":
        client.rpush(SCRATCH_KEY, *[b"e" * 16 for _ in range(max(1, size // 24))])
    elif kind == "set":
        client.sadd(SCRATCH_KEY, *[f"m{i:016d}" for i in range(max(1, size // 24))])
    elif kind == "zset":
        client.zadd(SCRATCH_KEY, {f"m{i:016d}": i for i in range(max(1, size // 24))})
    else:
        raise ValueError(f"unknown type {kind}")


def plant(
    client: redis.Redis,
    key: bytes | str,
    *,
    kind: str = "string",
    size: int = 100,
    idle_seconds: int = 0,
    freq: int | None = None,
    ttl_ms: int = 0,
) -> bytes:
    """Create ``key`` of ``kind`` holding about ``size`` bytes that looks ``idle_seconds`` idle.

    Returns the DUMP payload of the planted value.
    """
    _build_value(client, kind, size)
    payload = client.dump(SCRATCH_KEY)
    client.delete(SCRATCH_KEY)
    assert payload is not None
    arguments: list[bytes | str | int] = ["RESTORE", key, ttl_ms, payload, "REPLACE"]
    if idle_seconds:
        arguments += ["IDLETIME", idle_seconds]
    if freq is not None:
        arguments += ["FREQ", freq]
    client.execute_command(*arguments)
    return bytes(payload)
