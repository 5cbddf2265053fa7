"""The seed incident for end-to-end tests: stale big keys, forks failing above an RSS limit.

``plant_incident`` fills a fork-failure server (tests/support/forkfail.py) and makes a BGSAVE fail
so the server refuses writes with MISCONF; only freeing about half the data lets a fork succeed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.support.forkfail import FaultyRedis, bgsave_finished
from tests.support.keys import plant
from tests.support.server_build import requires_jemalloc

DAY = 86400
STALE_KEYS = 24
STALE_VALUE_BYTES = 1 << 20
ARCHIVE_STALE = ("--match", "stale:*", "--min-idle", "30d", "--action", "archive")

FREEING_LOWERS_RSS = requires_jemalloc(
    "a rescue that frees only part of the data before the fork fits (the fork-failure library "
    "judges VmRSS, and libc malloc keeps most freed 1 MiB values resident)"
)
"""Marks a test whose rescue must succeed after freeing part of the incident's data."""


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """A config with a private state dir and 4 MiB rounds (the model names no need here)."""
    config = tmp_path / "janitor.toml"
    config.write_text(
        f"""
[rescue]
state_dir = "{tmp_path / "state"}"
bgsave_timeout = "30s"
round_bytes = "4MiB"

[policy]
settle_timeout = "5s"
{extra}
"""
    )
    return config


def plant_incident(
    faulty: FaultyRedis,
) -> tuple[redis.Redis, dict[bytes, bytes], dict[bytes, bytes]]:
    """Stale big keys + fresh keys; forks fail above half the data's RSS; a BGSAVE fails.

    Returns the client, the DUMP payloads of the stale keys and of the keys that must stay.
    """
    client = faulty.server.client()
    empty_rss = faulty.rss_bytes()
    stale = {
        f"stale:{index}\xff".encode("latin-1"): plant(
            client,
            f"stale:{index}\xff".encode("latin-1"),
            size=STALE_VALUE_BYTES,
            idle_seconds=40 * DAY,
        )
        for index in range(STALE_KEYS)
    }
    fresh = {
        f"fresh:{index}".encode(): plant(client, f"fresh:{index}", kind="hash", size=2000)
        for index in range(10)
    }
    full_rss = faulty.rss_bytes()
    faulty.faults.limit_rss(empty_rss + (full_rss - empty_rss) // 2)
    with pytest.raises(redis.ResponseError):
        client.bgsave()
    assert bgsave_finished(client) == "err"
    with pytest.raises(redis.ResponseError, match=r"^MISCONF"):
        client.set("probe", "1")
    return client, stale, fresh


def save_settings(client: redis.Redis) -> tuple[str, str]:
    stop_writes = client.config_get("stop-writes-on-bgsave-error")["stop-writes-on-bgsave-error"]
    return stop_writes, client.config_get("save")["save"]


def dumps(client: redis.Redis, keys: list[bytes]) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in keys}
