"""Ask Redis Sentinel for a service's current primary and its replicas.

The sentinels of a ``redis+sentinel://`` URL are asked in order; the first that knows the
service answers. A sentinel that asks for a password gets the URL's (or the configured) one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from janitor.config.sentinel_url import SentinelUrl
from janitor.core.errors import RedisPermissionError, RedisUnavailableError

SentinelReply = Any


@dataclass(frozen=True)
class SentinelAnswer:
    """The service's primary and replicas as one sentinel sees them."""

    primary: tuple[str, int]
    replicas: list[tuple[str, int]] = field(default_factory=list)
    sentinel: str = ""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _replicas(reply: SentinelReply) -> list[tuple[str, int]]:
    """Healthy replicas from ``SENTINEL REPLICAS`` (flat field lists or maps)."""
    found = []
    for entry in reply or []:
        if isinstance(entry, dict):
            fields = {_text(k): _text(v) for k, v in entry.items()}
        else:
            items = list(entry)
            fields = {_text(items[i]): _text(items[i + 1]) for i in range(0, len(items) - 1, 2)}
        flags = set(fields.get("flags", "").split(","))
        if {"s_down", "o_down", "disconnected"} & flags:
            continue
        found.append((fields.get("ip", ""), int(fields.get("port", 0))))
    return found


def _ask(client: redis.Redis, service: str) -> SentinelAnswer | None:
    address = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service)
    if not address:
        return None
    try:
        replicas = client.execute_command("SENTINEL", "REPLICAS", service)
    except redis.ResponseError:  # before 5.0
        replicas = client.execute_command("SENTINEL", "SLAVES", service)
    return SentinelAnswer((_text(address[0]), int(address[1])), _replicas(replicas))


def ask_sentinels(
    url: SentinelUrl, password: str | None, username: str | None, timeout: float
) -> SentinelAnswer:
    """The first answer of the URL's sentinels; RedisUnavailableError when none knows."""
    problems: list[str] = []
    for host, port in url.sentinels:
        where = f"{host}:{port}"
        for auth in (False, True):
            client = redis.Redis(
                host=host,
                port=port,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                username=(url.username or username) if auth else None,
                password=(url.password or password) if auth else None,
            )
            try:
                answer = _ask(client, url.service)
            except redis.AuthenticationError as error:
                problems.append(f"{where}: {error}")
                break
            except redis.ResponseError as error:
                if "NOAUTH" in str(error) and not auth:
                    continue
                problems.append(f"{where}: {error}")
                break
            except (redis.ConnectionError, redis.TimeoutError) as error:
                problems.append(f"{where}: {error}")
                break
            finally:
                client.close()
            if answer is None:
                problems.append(f"{where}: does not know the service {url.service!r}")
                break
            return SentinelAnswer(answer.primary, answer.replicas, where)
    if problems and all("invalid password" in p or "WRONGPASS" in p for p in problems):
        raise RedisPermissionError(f"the sentinels refused the credentials: {'; '.join(problems)}")
    raise RedisUnavailableError(
        f"no sentinel gave the primary of {url.service!r}: {'; '.join(problems)}",
        hint="check the sentinels' addresses and the service name in the redis+sentinel:// URL",
    )
