"""One cycle per instance at a time, across the timer, the daemon and manual runs.

Two locks, both per instance: a local ``flock`` on a file in the state directory (covers every run
on this host, even when Redis refuses writes), then a Redis lock in DB 0 — ``SET redis-janitor:lock
TOKEN NX PX ttl`` with a random token, renewed every third of the TTL by a background thread and
released only by its owner (compare-and-delete in Lua). A held lock raises ``LockHeldError`` (75),
unless its holder is provably dead: the token names this host, the process it names no longer
exists, and we hold this host's flock for the instance — then it is taken over at once (a
crashed run no longer blocks the next one for the lock's TTL, also after an AOF reload).

When Redis refuses writes (``MISCONF``: a failed BGSAVE with stop-writes-on-bgsave-error), the Redis
lock is skipped and logged: the rescue must still run, guarded by the local lock alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from janitor.adapters.redis import writer
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.config.settings import Settings
from janitor.core.errors import (
    LockHeldError,
    RedisPermissionError,
    RedisUnavailableError,
    WritesRefusedError,
)
from janitor.core.logs import get_logger
from janitor.domain.topology import hash_tag_for

log = get_logger(__name__)

LOCK_KEY = b"redis-janitor:lock"
LOCK_WRITES_IN_DRY_RUN = False
"""``dry_run`` for the lock's writes: the lock is taken in dry runs too (see the writer)."""
_CHECK_LINES = {"2": "del", "3": "get", "4": "pexpire"}
"""Which command each line of the writer's check script runs (a refusal names the line)."""
ACL_CHECK_SUFFIX = b":acl-check"


def acl_check_key(key: bytes) -> bytes:
    """A key never written, in the lock key's slot, which the check script DELetes to prove the
    release script may DEL: the lock key's hash tag, or the whole lock key as the tag."""
    return key + ACL_CHECK_SUFFIX if b"{" in key else b"{" + key + b"}" + ACL_CHECK_SUFFIX


LOCK_RULES = ("+set", "+get", "+eval", "+pexpire", "+del")
"""The ACL rules the run lock needs (SET NX, then EVAL of scripts running GET/PEXPIRE/DEL)."""
_SCRIPT_REFUSED = ("can't run this command or subcommand", "ACL failure in script")
"""How a script's refused command reads: Redis 7.0 / Redis 7.4 and Valkey."""


def lock_key(target: RedisTarget) -> bytes:
    """The lock key of ``target``: on a cluster node, with a hash tag in a slot it serves."""
    tag = hash_tag_for(target.slots) if target.cluster else None
    return LOCK_KEY if tag is None else LOCK_KEY + b":{" + tag.encode() + b"}"


def not_a_primary_error(target: RedisTarget, reply: str = "") -> RedisUnavailableError:
    """The refusal for a run on a replica whose primary cannot be used (nothing is changed)."""
    primary = target.unreachable_primary or "its primary"
    detail = f" ({reply.split(chr(10))[0][:120]})" if reply else ""
    return RedisUnavailableError(
        f"Redis at {target.display} is a replica{detail}: writes go only to a primary, and "
        f"{primary} cannot be reached; nothing was changed",
        hint="run against the primary's URL, or once the replica's primary is back "
        "(report and headroom work on a replica)",
    )


@dataclass
class HeldLock:
    """What a cycle holds while it runs. Check ``lost`` between actions: set when the Redis lock
    could not be renewed because someone else owns it now."""

    instance: str
    lock_file: Path
    redis_lock: RedisLock | None
    """None when the Redis lock was skipped (MISCONF): only the local lock guards the run."""
    lost: threading.Event = field(default_factory=threading.Event)

    @property
    def redis_locked(self) -> bool:
        """True when the Redis lock is held too."""
        return self.redis_lock is not None


def default_lock_dir(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """Return where lock files live: ``service.state_dir``, systemd's ``$STATE_DIRECTORY``,
    /var/lib/redis-janitor when writable, else ``$XDG_STATE_HOME/redis-janitor``."""
    environ = os.environ if environ is None else environ
    if settings.service.state_dir is not None:
        return settings.service.state_dir / "locks"
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0]) / "locks"
    system = Path("/var/lib/redis-janitor")
    if system.is_dir() and os.access(system, os.W_OK):
        return system / "locks"
    xdg = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "redis-janitor" / "locks"


def lock_file_name(display: str) -> str:
    """Return a file name for one instance: readable part + hash of the masked URL."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", display.split("://", 1)[-1]).strip("_")[:60]
    digest = hashlib.sha256(display.encode()).hexdigest()[:12]
    return f"{readable}-{digest}.lock"


@contextmanager
def instance_lock(target: RedisTarget, settings: Settings, *, lock_dir: Path) -> Iterator[HeldLock]:
    """Hold both locks for ``target`` for the duration of the block, or raise LockHeldError."""
    lock_file = lock_dir / lock_file_name(target.display)
    with _local_flock(lock_file, target.display):
        redis_lock = RedisLock(target, settings.service.lock_ttl, local_flock_held=True)
        acquired = redis_lock.acquire()
        held = HeldLock(
            target.display, lock_file, redis_lock if acquired else None, redis_lock.lost
        )
        try:
            yield held
        finally:
            redis_lock.release()


@contextmanager
def _local_flock(path: Path, display: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "unknown"
            raise LockHeldError(
                f"another run holds the local lock for {display} ({path}, held by {holder})",
                hint="wait for it to finish; the timer, serve and manual runs share this lock",
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)


def holder_is_dead_here(holder: bytes, hostname: str | None = None) -> bool:
    """True when the token ``host:pid:nonce`` names this host and a pid that does not exist.

    Our own pid counts as alive (another lock object of this process), and so does a pid we
    may not signal (EPERM): only a missing process is proof.
    """
    parts = holder.decode(errors="replace").rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid = parts[0], int(parts[1])
    if host != (hostname or socket.gethostname()) or pid in (0, os.getpid()):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


_held_tokens: set[bytes] = set()
"""The tokens of the Redis locks this process holds right now."""


def is_stale_own_token(holder: bytes) -> bool:
    """True for a token of this very process that it no longer holds: a run whose release never
    reached the node (a failover promoted a replica between the lock's SET and its DEL)."""
    prefix = f"{socket.gethostname()}:{os.getpid()}:".encode()
    return holder.startswith(prefix) and holder not in _held_tokens


class RedisLock:
    """``SET NX PX`` lock with a random token, renewed in the background, released by its owner."""

    def __init__(
        self, target: RedisTarget, ttl_seconds: float, *, local_flock_held: bool = False
    ) -> None:
        self.target = target
        self.display = target.display
        self.key = lock_key(target)
        self.client = target.client(0)
        self.ttl_ms = max(1000, int(ttl_seconds * 1000))
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}".encode()
        self.local_flock_held = local_flock_held
        """True when this host's flock for the instance is held by us: then a Redis lock whose
        token names this host and a process that no longer exists is provably stale."""
        self.lost = threading.Event()
        self.renewals = 0
        self._held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lock and start renewing it; False when skipped because of MISCONF."""
        if self.target.unreachable_primary is not None:
            raise not_a_primary_error(self.target)
        try:
            with redis_errors(self.display):
                taken = writer.lock_take(
                    self.client, self.key, self.token, self.ttl_ms, dry_run=LOCK_WRITES_IN_DRY_RUN
                )
                holder = None if taken else self.client.get(self.key)
        except (redis.ReadOnlyError, redis.exceptions.MovedError) as error:
            raise not_a_primary_error(self.target, str(error)) from None
        except WritesRefusedError as error:
            log.warning("lock.redis_lock_skipped", reason=error.message[:200])
            return False
        if not taken and isinstance(holder, bytes):
            stale = is_stale_own_token(holder) or (
                self.local_flock_held and holder_is_dead_here(holder)
            )
            taken = stale and self._take_over(holder)
        if not taken:
            text = holder.decode(errors="replace") if isinstance(holder, bytes) else str(holder)
            who = text.rsplit(":", 1)[0]
            raise LockHeldError(
                f"another run holds the Redis lock for {self.display} (held by {who})",
                hint=f"it expires within {self.ttl_ms // 1000}s unless its owner renews it",
            )
        self._check_scripting()
        self._held = True
        _held_tokens.add(self.token)
        context = contextvars.copy_context()  # keeps run_id/instance on the renewal's log events
        self._thread = threading.Thread(
            target=context.run, args=(self._renew_loop,), name="lock-renewal", daemon=True
        )
        self._thread.start()
        log.debug("lock.acquired", ttl_ms=self.ttl_ms)
        return True

    def _take_over(self, holder: bytes) -> bool:
        """Replace a stale token (a dead local holder's, or this process's own that it no longer
        holds) by ours, atomically: only if it is still there."""
        try:
            with redis_errors(self.display):
                taken = writer.lock_take_over(
                    self.client,
                    self.key,
                    holder,
                    self.token,
                    self.ttl_ms,
                    dry_run=LOCK_WRITES_IN_DRY_RUN,
                )
        except (WritesRefusedError, redis.RedisError) as error:
            log.warning("lock.take_over_failed", error=str(error).split("\n")[0][:200])
            return False
        if taken:
            log.warning("lock.taken_over", dead_holder=holder.decode(errors="replace"))
        return taken

    def _check_scripting(self) -> None:
        """Run every command the renew and release scripts run (EVAL → GET, PEXPIRE, DEL of a
        key that never exists) once now, so a user who lacks one is told at the start (exit 77)
        instead of leaving the lock behind to expire."""
        try:
            with redis_errors(self.display):
                writer.lock_check_scripts(
                    self.client,
                    self.key,
                    acl_check_key(self.key),
                    self.token,
                    self.ttl_ms,
                    dry_run=LOCK_WRITES_IN_DRY_RUN,
                )
        except (RedisPermissionError, redis.ResponseError) as error:
            with contextlib.suppress(redis.RedisError):  # ours, set with NX a moment ago
                writer.lock_expire_now(
                    self.client, self.key, self.token, dry_run=LOCK_WRITES_IN_DRY_RUN
                )
            if isinstance(error, RedisPermissionError) or not any(
                text in str(error) for text in _SCRIPT_REFUSED
            ):
                raise
            line = re.search(r"@user_script:(\d+)", str(error))
            command = _CHECK_LINES.get(line.group(1) if line else "", "")
            rule = f"+{command}" if command else " ".join(LOCK_RULES)
            raise RedisPermissionError(
                f"Redis at {self.display} refused {command or 'a command'!r} inside the run "
                "lock's script for this user (the lock runs SET, then EVAL of GET, PEXPIRE, DEL)",
                hint=f"grant it with: ACL SETUSER <user> {rule}",
            ) from None

    def release(self) -> None:
        """Stop renewing and delete the key if it still holds our token."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self._held:
            return
        self._held = False
        _held_tokens.discard(self.token)
        try:
            released = writer.lock_release(
                self.client, self.key, self.token, dry_run=LOCK_WRITES_IN_DRY_RUN
            )
        except redis.RedisError as error:
            log.warning("lock.release_failed", error=str(error), expires_in_ms=self.ttl_ms)
            return
        if not released:
            log.warning("lock.release_skipped", reason="the key no longer holds our token")

    def renew(self) -> bool:
        """Extend the TTL if we still own the key; False (and ``lost`` set) when we do not."""
        try:
            renewed = writer.lock_renew(
                self.client, self.key, self.token, self.ttl_ms, dry_run=LOCK_WRITES_IN_DRY_RUN
            )
        except redis.RedisError as error:
            log.warning("lock.renewal_failed", error=str(error).split("\n")[0][:200])
            return True
        if not renewed:
            self.lost.set()
            log.error("lock.lost", reason="the key expired or belongs to another run")
            return False
        self.renewals += 1
        return True

    def _renew_loop(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop.wait(interval):
            if not self.renew():
                return
