"""Connections to Redis: URL handling, client construction and error translation.

Clients never decode replies (keys are bytes everywhere). Failures become JanitorErrors with the
exit codes of the CLI contract: unreachable → 69, ACL refusal or bad credentials → 77.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.connection import Connection, ConnectionPool, parse_url
from redis.retry import Retry

from janitor.config.redis_url import mask_url as mask_url  # re-exported
from janitor.config.redis_url import url_db
from janitor.config.settings import Settings
from janitor.core.errors import (
    ConfigError,
    RedisPermissionError,
    RedisUnavailableError,
    WritesRefusedError,
)
from janitor.core.logs import register_secret
from janitor.domain.persistence import is_misconf_error

CLIENT_NAME = "redis-janitor"
_NOPERM_COMMAND = re.compile(r"run the '([^']+)' command")
_UNKNOWN_COMMAND = re.compile(r"unknown (?:sub)?command '([^']+)'", re.IGNORECASE)


@dataclass
class RedisTarget:
    """One Redis instance to look after, with one connection pool per logical DB.

    The topology fields say what the node is (see ``janitor.app.topology``): ``role`` primary or
    replica, the cluster ``node_id`` and ``shard`` (its primary's node id), the ``slots`` its shard
    serves, and ``given`` — the URL the operator gave when this node was found from it (a
    replica's primary, a cluster node, a Sentinel's current primary). ``readonly`` sends
    ``READONLY`` on every connection (a cluster replica serves reads only after it).
    """

    url: str
    settings: Settings
    role: str | None = None
    node_id: str | None = None
    shard: str | None = None
    slots: tuple[tuple[int, int], ...] = ()
    cluster: bool = False
    readonly: bool = False
    given: str | None = None
    unreachable_primary: str | None = None
    """A replica whose primary (this ``host:port``) could not be reached: nothing may act."""
    _pools: dict[int, ConnectionPool] = field(default_factory=dict, repr=False)
    _pools_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """Workers side by side share targets (the headroom meter reads every instance)."""

    @property
    def identity(self) -> dict[str, str | None]:
        """The node identity shown beside the URL in reports and metrics."""
        return {
            "role": self.role,
            "node_id": self.node_id,
            "shard": self.shard,
            "given": mask_url(self.given) if self.given else None,
        }

    @property
    def display(self) -> str:
        """The URL with its password masked."""
        return mask_url(self.url)

    @property
    def url_db(self) -> int | None:
        """The DB named explicitly in the URL (``redis://h/3`` or ``?db=3``), else None (the URL
        was checked when the settings were loaded)."""
        return url_db(self.url)

    def client(self, db: int = 0) -> redis.Redis:
        """Return a client for logical database ``db`` (pools are cached per DB)."""
        with self._pools_lock:
            if db not in self._pools:
                self._pools[db] = ConnectionPool(**self._pool_options(db))
            return redis.Redis(connection_pool=self._pools[db])

    def close(self) -> None:
        """Close every pooled connection."""
        with self._pools_lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.disconnect()

    def _pool_options(self, db: int) -> dict[str, Any]:
        redis_settings = self.settings.redis
        options: dict[str, Any] = {
            "socket_connect_timeout": redis_settings.connect_timeout,
            "socket_timeout": redis_settings.socket_timeout,
            "client_name": CLIENT_NAME,
            "retry": Retry(NoBackoff(), 0),
            "decode_responses": False,
            "username": redis_settings.username,
            "password": self.settings.redis_password(),
        }
        options.update({k: v for k, v in parse_url(self.url).items() if v is not None})
        options["db"] = db
        if self.readonly:
            base = options.get("connection_class", Connection)
            options["connection_class"] = _read_only_class(base)
        register_secret(options.get("password"))
        if self.url.startswith("rediss://"):
            options.update(
                ssl_ca_certs=_str_or_none(redis_settings.tls_ca_file),
                ssl_certfile=_str_or_none(redis_settings.tls_cert_file),
                ssl_keyfile=_str_or_none(redis_settings.tls_key_file),
                ssl_cert_reqs="required" if redis_settings.tls_verify else "none",
                ssl_check_hostname=redis_settings.tls_verify,
            )
        return options


_READ_ONLY_CLASSES: dict[type[Any], type[Any]] = {}


def _read_only_class(base: type[Any]) -> type[Any]:
    """``base`` sending ``READONLY`` after connecting (cluster replicas then serve reads)."""
    if base not in _READ_ONLY_CLASSES:

        def on_connect_check_health(self: Any, check_health: bool = True) -> None:
            base.on_connect_check_health(self, check_health=check_health)
            self.send_command("READONLY")
            if self.read_response() not in (b"OK", "OK"):
                raise redis.ConnectionError("READONLY was refused")

        name = f"ReadOnly{base.__name__}"
        methods = {"on_connect_check_health": on_connect_check_health}
        _READ_ONLY_CLASSES[base] = type(name, (base,), methods)
    return _READ_ONLY_CLASSES[base]


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def targets_from_settings(settings: Settings) -> list[RedisTarget]:
    """Return one target per configured URL, registering URL passwords as secrets."""
    targets = []
    for url in settings.redis.urls:
        register_secret(urlsplit(url).password)
        targets.append(RedisTarget(url=url, settings=settings))
    return targets


def permission_needed(command: str) -> str:
    """Return the ACL rule that grants ``command`` (``memory|usage`` → ``+memory|usage``)."""
    return f"+{command.lower()}"


PASSWORD_SOURCES = (
    "--password-file FILE, $JANITOR_REDIS__PASSWORD or the systemd credential redis-password"
)
_AUTH_PREFIXES = ("NOAUTH", "WRONGPASS")
_PASSWORD_REQUIRED = ("HELLO must be called", "NOAUTH", "Authentication required")


def authentication_error(message: str, display: str) -> RedisPermissionError:
    """'password required' or 'wrong password', told apart, each with what to do (exit 77).

    Redis's own wording ("HELLO must be called with the client already authenticated…",
    "invalid username-password pair…") is left out: it names the protocol, not the fix.
    """
    if any(marker in message for marker in _PASSWORD_REQUIRED):
        return RedisPermissionError(
            f"Redis at {display} requires a password and none was given",
            hint=f"give it with {PASSWORD_SOURCES} (and --username for an ACL user)",
        )
    return RedisPermissionError(
        f"Redis at {display} rejected the credentials: wrong password, "
        "or the user does not exist or is disabled",
        hint=f"check --username / redis.username and the password ({PASSWORD_SOURCES})",
    )


def is_permission_error(error: redis.RedisError) -> bool:
    """True for an ACL refusal, also one that discarded a MULTI/EXEC transaction."""
    return isinstance(error, redis.exceptions.NoPermissionError) or (
        isinstance(error, redis.ResponseError) and "NOPERM" in str(error)
    )


def translate_redis_error(error: redis.RedisError, display: str) -> Exception:
    """Map a redis-py error to the JanitorError an operator understands, or return it as is."""
    message = str(error)
    if isinstance(error, redis.AuthenticationError) or message.startswith(_AUTH_PREFIXES):
        return authentication_error(message, display)
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        return RedisUnavailableError(f"cannot reach Redis at {display}: {message}")
    if is_permission_error(error):
        found = _NOPERM_COMMAND.search(message)
        command = found.group(1) if found else "a command"
        rule = permission_needed(command) if found else "the missing permission"
        return RedisPermissionError(
            f"Redis at {display} refused {command!r} for this user: {message}",
            hint=f"grant it with: ACL SETUSER <user> {rule}",
        )
    if isinstance(error, redis.ResponseError) and "DB index is out of range" in message:
        return ConfigError(
            [f"redis.urls: {display}: the DB is out of range on this server (its 'databases')"]
        )
    if isinstance(error, redis.ResponseError) and is_misconf_error(error):
        return WritesRefusedError(
            f"Redis at {display} is up but refuses writes (MISCONF): its last background save "
            "failed and stop-writes-on-bgsave-error is yes",
            hint="see the persistence diagnosis (redis-janitor report); "
            "redis-janitor rescue lifts the block, frees memory and saves again",
        )
    if isinstance(error, redis.ResponseError):
        unknown = _UNKNOWN_COMMAND.search(message)
        if unknown:
            return RedisPermissionError(
                f"Redis at {display} does not offer the command {unknown.group(1)!r}: {message}",
                hint="the command is renamed or disabled (common on managed services); "
                "the janitor needs it",
            )
    return error


@contextmanager
def redis_errors(display: str) -> Iterator[None]:
    """Translate redis-py errors raised inside the block (see translate_redis_error)."""
    try:
        yield
    except redis.RedisError as error:
        translated = translate_redis_error(error, display)
        if translated is error:
            raise
        raise translated from None
