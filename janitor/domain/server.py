"""What a Redis (or Valkey) server says about itself in INFO, read defensively.

``parse_server_info`` is pure (INFO dict in, ServerInfo out); ``read_server_info`` does the I/O.
Fields missing on older or managed servers become None and are listed in ``missing``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MIN_SUPPORTED_VERSION = (6, 2)
_DB_SECTION = re.compile(r"^db(\d+)$")


class IdleMetric(StrEnum):
    """How staleness is tracked: seconds since last access (LRU) or a frequency counter (LFU)."""

    IDLETIME = "idletime"
    FREQ = "freq"


@dataclass(frozen=True)
class ServerInfo:
    """The facts about one server that the janitor relies on."""

    flavor: str
    version: str
    version_tuple: tuple[int, ...]
    process_id: int | None
    uptime_seconds: int | None
    maxmemory_policy: str | None
    used_memory_bytes: int | None
    keys_per_db: dict[int, int]
    raw: Mapping[str, Any] = field(repr=False)
    missing: tuple[str, ...] = ()

    @property
    def idle_metric(self) -> IdleMetric:
        """FREQ under an LFU maxmemory-policy (OBJECT IDLETIME then errors), else IDLETIME."""
        if self.maxmemory_policy and "lfu" in self.maxmemory_policy:
            return IdleMetric.FREQ
        return IdleMetric.IDLETIME

    @property
    def total_keys(self) -> int:
        """Keys in all DBs, as INFO keyspace counts them."""
        return sum(self.keys_per_db.values())

    @property
    def supported(self) -> bool:
        """True when the server is at least Redis 6.2 (or any Valkey)."""
        return self.flavor == "valkey" or self.version_tuple[:2] >= MIN_SUPPORTED_VERSION

    def supports(self, major: int, minor: int = 0) -> bool:
        """True when the Redis-compatible version is at least ``major.minor``."""
        return self.version_tuple[:2] >= (major, minor)


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        numbers.append(int(digits.group(0)) if digits else 0)
    return tuple(numbers) or (0,)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_keyspace(info: Mapping[str, Any]) -> dict[int, int]:
    """Return ``{db: keys}`` from the ``dbN`` entries of INFO (parsed or raw ``keys=…`` form)."""
    counts: dict[int, int] = {}
    for name, value in info.items():
        match = _DB_SECTION.match(str(name))
        if not match:
            continue
        if isinstance(value, Mapping):
            keys = _int_or_none(value.get("keys"))
        else:
            found = re.search(r"keys=(\d+)", str(value))
            keys = int(found.group(1)) if found else None
        if keys is not None:
            counts[int(match.group(1))] = keys
    return dict(sorted(counts.items()))


def parse_server_info(info: Mapping[str, Any]) -> ServerInfo:
    """Build ServerInfo from an INFO reply parsed into a dict (redis-py's ``info("all")``)."""
    flavor = "valkey" if str(info.get("server_name", "")).lower() == "valkey" else "redis"
    version = str(info.get("valkey_version") or info.get("redis_version") or "0")
    if flavor == "valkey" and "redis_version" in info and "valkey_version" not in info:
        version = str(info["redis_version"])
    wanted = ("process_id", "uptime_in_seconds", "maxmemory_policy", "used_memory")
    missing = tuple(name for name in wanted if name not in info)
    policy = info.get("maxmemory_policy")
    return ServerInfo(
        flavor=flavor,
        version=version,
        version_tuple=_version_tuple(version),
        process_id=_int_or_none(info.get("process_id")),
        uptime_seconds=_int_or_none(info.get("uptime_in_seconds")),
        maxmemory_policy=str(policy) if policy is not None else None,
        used_memory_bytes=_int_or_none(info.get("used_memory")),
        keys_per_db=parse_keyspace(info),
        raw=info,
        missing=missing,
    )
