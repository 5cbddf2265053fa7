"""Key writes: the conditional UNLINK / PEXPIRE (under WATCH, in MULTI/EXEC) and RESTORE.

Part of the one writer (see :mod:`janitor.adapters.redis.writer`): the only place that sends
a command changing a key. Each function takes ``dry_run`` and refuses to run in one.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.client import Pipeline

from janitor.adapters.redis.writer import refuse_in_dry_run


def unlink_command(key: bytes) -> list[Any]:
    """``UNLINK key`` (never DEL: big values are freed in the background)."""
    return ["UNLINK", key]


def pexpire_command(key: bytes, expire_ms: int, *, less_than: bool) -> list[Any]:
    """``PEXPIRE key ms [LT]`` (LT: Redis ≥ 7.0, "set if none or shorter")."""
    return ["PEXPIRE", key, expire_ms, *(["LT"] if less_than else [])]


def commit_watched(pipe: Pipeline, command: list[Any], *, dry_run: bool) -> Any:
    """Send ``command`` (from :func:`unlink_command` / :func:`pexpire_command`) in MULTI/EXEC
    on a pipeline that WATCHes the key; return its reply. A write to the key since WATCH
    raises ``redis.WatchError`` and nothing is changed."""
    if command[0] not in ("UNLINK", "PEXPIRE"):
        raise ValueError(f"not a key write of this module: {command[0]!r}")
    refuse_in_dry_run(str(command[0]), dry_run=dry_run)
    pipe.multi()
    pipe.execute_command(*command)
    (reply,) = pipe.execute()
    return reply


def restore_key(
    client: redis.Redis,
    key: bytes,
    expire_at_ms: int | None,
    payload: bytes,
    *,
    replace: bool,
    idle_seconds: int | None = None,
    freq: int | None = None,
    dry_run: bool,
) -> None:
    """``RESTORE key abs-expiry payload ABSTTL [REPLACE] [IDLETIME s | FREQ f]``.

    Without ``replace`` an existing key makes Redis refuse with BUSYKEY (redis.ResponseError).
    """
    refuse_in_dry_run("RESTORE", dry_run=dry_run)
    command: list[Any] = ["RESTORE", key, expire_at_ms or 0, payload, "ABSTTL"]
    if replace:
        command.append("REPLACE")
    if freq is not None:
        command += ["FREQ", freq]
    elif idle_seconds is not None:
        command += ["IDLETIME", idle_seconds]
    client.execute_command(*command)
