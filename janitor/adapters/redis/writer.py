"""The one door for commands that change a server's configuration or state, and the lock's writes.

Every command the janitor sends that changes something goes through this module or its sibling
:mod:`janitor.adapters.redis.key_writes` (the key writes: UNLINK, PEXPIRE, RESTORE) — nothing else
in the package may send one (a test scans the source for that). "What can change my data?" is
answered by these two files.

Each function takes ``dry_run`` as a keyword and refuses to run when it is true: callers decide
what a dry run reports and never reach here in one. The janitor's own lock key is the single
exception by design: it is taken in dry runs too (a dry run must not race a real run), so its
callers pass ``dry_run=False`` and say so.
"""

from __future__ import annotations

from typing import Any

import redis

LOCK_RENEW_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
LOCK_CHECK_SCRIPT = """
redis.call('del', KEYS[2])
local held = redis.call('get', KEYS[1])
if held == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
"""Runs each command the renew and release scripts run (DEL of a key that never exists), so a
user who lacks one is refused at the start; line numbers matter to the lock's error message."""
LOCK_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class DryRunWriteError(RuntimeError):
    """A write was requested in a dry run: a programming error, never an operator's."""


def refuse_in_dry_run(what: str, *, dry_run: bool) -> None:
    """Raise DryRunWriteError when ``dry_run`` (every writer function calls this first)."""
    if dry_run:
        raise DryRunWriteError(f"{what} must not be sent in a dry run")


def config_set(client: redis.Redis, name: str, value: str, *, dry_run: bool) -> None:
    """``CONFIG SET name value`` (allowed during MISCONF)."""
    refuse_in_dry_run(f"CONFIG SET {name}", dry_run=dry_run)
    client.config_set(name, value)


def bgsave(client: redis.Redis, *, dry_run: bool) -> None:
    """``BGSAVE``; a refused fork raises redis.ResponseError."""
    refuse_in_dry_run("BGSAVE", dry_run=dry_run)
    client.bgsave()


def memory_purge(client: redis.Redis, *, dry_run: bool) -> None:
    """``MEMORY PURGE``: ask jemalloc to return dirty pages now (allowed during MISCONF)."""
    refuse_in_dry_run("MEMORY PURGE", dry_run=dry_run)
    client.execute_command("MEMORY", "PURGE")


def lock_take(client: redis.Redis, key: bytes, token: bytes, ttl_ms: int, *, dry_run: bool) -> bool:
    """``SET key token NX PX ttl``: True when taken."""
    refuse_in_dry_run("the lock's SET", dry_run=dry_run)
    return bool(client.set(key, token, nx=True, px=ttl_ms))


def lock_take_over(
    client: redis.Redis, key: bytes, stale: bytes, token: bytes, ttl_ms: int, *, dry_run: bool
) -> bool:
    """Replace the lock's value ``stale`` (a dead holder's token) by ``token``, atomically."""
    refuse_in_dry_run("the lock's take-over", dry_run=dry_run)
    script = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) and 1 or 0 end return 0"
    )
    return bool(client.eval(script, 1, key, stale, token, ttl_ms))


def lock_renew(
    client: redis.Redis, key: bytes, token: bytes, ttl_ms: int, *, dry_run: bool
) -> bool:
    """Extend the lock's TTL if it still holds ``token``; False when it does not."""
    refuse_in_dry_run("the lock's renewal", dry_run=dry_run)
    return bool(client.eval(LOCK_RENEW_SCRIPT, 1, key, token, ttl_ms))


def lock_release(client: redis.Redis, key: bytes, token: bytes, *, dry_run: bool) -> bool:
    """Delete the lock if it still holds ``token`` (compare-and-delete); False when it did not."""
    refuse_in_dry_run("the lock's DEL", dry_run=dry_run)
    reply: Any = client.eval(LOCK_RELEASE_SCRIPT, 1, key, token)
    return bool(reply)


def lock_check_scripts(
    client: redis.Redis,
    key: bytes,
    absent_key: bytes,
    token: bytes,
    ttl_ms: int,
    *,
    dry_run: bool,
) -> None:
    """EVAL the lock's check script (see LOCK_CHECK_SCRIPT); refusals raise."""
    refuse_in_dry_run("the lock's script check", dry_run=dry_run)
    client.eval(LOCK_CHECK_SCRIPT, 2, key, absent_key, token, ttl_ms)


def lock_expire_now(client: redis.Redis, key: bytes, token: bytes, *, dry_run: bool) -> None:
    """Let our own just-taken lock lapse at once (``SET key token XX PX 1``: needs only +set)."""
    refuse_in_dry_run("the lock's SET XX", dry_run=dry_run)
    client.set(key, token, xx=True, px=1)
