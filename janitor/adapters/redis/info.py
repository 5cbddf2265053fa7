"""Read what a server says about itself: INFO and CONFIG GET, parsed by the domain's parsers."""

from __future__ import annotations

from typing import Any

import redis

from janitor.domain.persistence import PersistenceState, parse_persistence_state, text_of
from janitor.domain.server import ServerInfo, parse_server_info


def read_server_info(client: redis.Redis) -> ServerInfo:
    """Run ``INFO`` (the default sections, keyspace included) on ``client`` and parse it."""
    info: dict[str, Any] = client.info()
    return parse_server_info(info)


def read_config(client: redis.Redis, *names: str) -> dict[str, str] | None:
    """CONFIG GET each of ``names``; None when the server forbids or lacks CONFIG."""
    values: dict[str, str] = {}
    try:
        for name in names:
            reply = client.config_get(name)
            for key, value in reply.items():
                values[text_of(key)] = text_of(value)
    except (redis.exceptions.NoPermissionError, redis.ResponseError):
        return None
    return values


def read_disable_thp(client: redis.Redis) -> bool | None:
    """Redis's ``disable-thp`` (6.2+; opts the process out of transparent huge pages).

    None when CONFIG is forbidden or the server has no such setting (older servers do not opt
    out).
    """
    values = read_config(client, "disable-thp")
    if not values or "disable-thp" not in values:
        return None
    return values["disable-thp"] == "yes"


def read_persistence_state(client: redis.Redis) -> PersistenceState:
    """Run INFO persistence and CONFIG GET save / stop-writes-on-bgsave-error on ``client``."""
    info: dict[str, Any] = client.info("persistence")
    config = read_config(client, "save", "stop-writes-on-bgsave-error")
    return parse_persistence_state(info, config)
