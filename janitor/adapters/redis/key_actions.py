"""Conditional actions on one key: expire, archive (then delete) or delete — never a changed key.

Every action WATCHes the key, then checks that it is *unchanged since it was judged*:
  * it still exists with the same TYPE and the same MEMORY USAGE (same SAMPLES as the scan);
  * its TTL state is the same: still none, or still set and not longer than when judged
    (a TTL only shrinks by itself; a longer one means somebody set it again);
  * it was not used since: OBJECT IDLETIME not below the judged idle time (LRU instances),
    or OBJECT FREQ not above the judged counter (LFU instances).
None of those commands touch the key. The mutation then runs in MULTI/EXEC, so a write between
the check and the mutation aborts it (WATCH). A changed key is skipped and reported.

  * delete  — ``UNLINK`` (never DEL).
  * expire  — ``PEXPIRE key ms`` only when the key has no TTL or a longer one; a shorter TTL is
    never lengthened. The decision is made on the WATCHed PTTL (works on every version); servers
    ≥ 7.0 also get the ``LT`` flag as a second guard.
  * archive — ``DUMP`` (with ``CLIENT NO-TOUCH ON`` on Redis/Valkey ≥ 7.2), the archive record is
    written and fsynced, and only then the ``UNLINK`` runs. A payload above the limit
    (``proto-max-bulk-len`` or ``archive.max_payload_bytes``) is skipped, never deleted.
``dry_run`` is checked before any command is sent: a dry run sends nothing at all.

In a Redis Cluster a key whose slot moved (``-MOVED``/``-ASK``: a migration or a failover during
the run) is skipped with that reason: it was judged on this node, never on its new owner. A
``-READONLY`` reply (this primary was demoted) fails the action and stops the acting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from janitor.adapters.files.archive import ArchiveRecord, ArchiveWriter
from janitor.adapters.redis.connection import RedisTarget, translate_redis_error
from janitor.core.keynames import escape_key, key_fields
from janitor.core.logs import get_logger
from janitor.domain.persistence import is_misconf_error
from janitor.domain.planner import PlannedAction
from janitor.domain.server import IdleMetric, ServerInfo

log = get_logger(__name__)
DEFAULT_PROTO_MAX_BULK_LEN = 512 * 1024**2
Hook = Callable[[PlannedAction], None]
PRIMARY_LOST = "the node is no longer a primary (failover during the run)"


def moved_reason(error: redis.exceptions.AskError) -> str:
    """Why a key whose slot moved to another node is left alone (judged here, not there)."""
    where = f"{error.host}:{error.port}" if getattr(error, "host", None) else "another node"
    return (
        f"slot {getattr(error, 'slot_id', '?')} moved to {where} during the run: the key was "
        "not judged there, so it is left for the next run"
    )


@dataclass(frozen=True)
class ActionOutcome:
    """What happened to one planned action: ``done``, ``skipped``, ``failed`` or ``planned``."""

    planned: PlannedAction
    result: str
    reason: str = ""

    @property
    def primary_lost(self) -> bool:
        """True when the node answered as a replica (a failover happened during the run)."""
        return self.result == "failed" and self.reason.startswith(PRIMARY_LOST)

    @property
    def writes_refused(self) -> bool:
        """True when Redis refused the write with MISCONF (its last save failed)."""
        return self.result == "failed" and is_misconf_error(self.reason)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``actions`` entries of ``run --format json``)."""
        record = self.planned.record
        return {
            "db": record.db,
            **key_fields(record.key),
            "action": self.planned.action,
            "rule": self.planned.rule,
            "bytes": record.size_bytes,
            "result": self.result,
            "reason": self.reason,
        }


@dataclass
class ActionHooks:
    """Test seams: ``before_check`` runs between judging and acting; ``before_unlink`` runs
    after the archive record is durable and before the UNLINK (a crash there loses nothing)."""

    before_check: Hook | None = None
    before_unlink: Hook | None = None


class KeyChangedError(Exception):
    """The key is not as it was judged; the reason is the message."""


def read_proto_max_bulk_len(client: redis.Redis) -> int:
    """``proto-max-bulk-len`` from CONFIG GET, or Redis's default when CONFIG is refused."""
    try:
        reply = client.config_get("proto-max-bulk-len")
    except redis.ResponseError:
        return DEFAULT_PROTO_MAX_BULK_LEN
    values: list[Any] = list(reply.values()) if isinstance(reply, dict) else []
    return int(values[0]) if values and values[0] is not None else DEFAULT_PROTO_MAX_BULK_LEN


class KeyActor:
    """Runs planned actions against one instance."""

    def __init__(
        self,
        target: RedisTarget,
        server: ServerInfo,
        archive: ArchiveWriter | None,
        max_payload_bytes: int,
        samples: int,
        hooks: ActionHooks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._target = target
        self._server = server
        self._archive = archive
        self._max_payload_bytes = max_payload_bytes
        self._samples = samples
        self._hooks = hooks or ActionHooks()
        self._clock = clock
        self._no_touch = server.supports(7, 2)

    def act(self, item: PlannedAction, *, dry_run: bool) -> ActionOutcome:
        """Carry out ``item`` unless ``dry_run``; Redis refusals become ``failed`` outcomes."""
        if dry_run:
            return ActionOutcome(item, "planned", "dry run")
        if self._hooks.before_check is not None:
            self._hooks.before_check(item)
        try:
            outcome = self._act(item)
        except (
            redis.ConnectionError,
            redis.TimeoutError,
            redis.exceptions.NoPermissionError,
        ) as error:
            raise translate_redis_error(error, self._target.display) from None
        except redis.exceptions.AskError as error:  # MOVED too: the slot changed owner
            outcome = ActionOutcome(item, "skipped", moved_reason(error))
        except redis.ReadOnlyError as error:
            outcome = ActionOutcome(item, "failed", f"{PRIMARY_LOST}: {error}")
        except redis.RedisError as error:
            outcome = ActionOutcome(item, "failed", str(error))
        except OSError as error:
            outcome = ActionOutcome(item, "failed", f"archive write failed: {error.strerror}")
        self._log(outcome)
        return outcome

    def _act(self, item: PlannedAction) -> ActionOutcome:
        key = item.record.key
        with self._target.client(item.record.db).pipeline(transaction=True) as pipe:
            pipe.watch(key)
            try:
                pttl = self._check_unchanged(pipe, item)
            except KeyChangedError as changed:
                return ActionOutcome(item, "skipped", f"changed since judged: {changed}")
            if item.action == "delete":
                return self._commit(pipe, item, ["UNLINK", key], "deleted")
            if item.action == "expire":
                return self._expire(pipe, item, pttl)
            if item.action == "archive":
                return self._archive_then_unlink(pipe, item, pttl)
            return ActionOutcome(item, "skipped", f"nothing to do for action {item.action!r}")

    def _check_unchanged(self, pipe: Pipeline, item: PlannedAction) -> int:
        """Raise KeyChangedError unless the WATCHed key is as judged; return its current PTTL."""
        record, key = item.record, item.record.key
        key_type = pipe.execute_command("TYPE", key)
        key_type = key_type.decode() if isinstance(key_type, bytes) else str(key_type)
        if key_type == "none":
            raise KeyChangedError("key no longer exists")
        if key_type != record.type:
            raise KeyChangedError(f"type is now {key_type}")
        size = pipe.execute_command("MEMORY USAGE", key, "SAMPLES", self._samples)
        if size is None or int(size) != record.size_bytes:
            raise KeyChangedError(f"size is now {size} bytes")
        pttl = int(pipe.execute_command("PTTL", key))
        if record.ttl_ms is None and pttl >= 0:
            raise KeyChangedError("a TTL was set")
        if record.ttl_ms is not None and not 0 <= pttl <= record.ttl_ms:
            raise KeyChangedError("the TTL was removed or lengthened")
        if self._server.idle_metric is IdleMetric.FREQ:
            freq = int(pipe.execute_command("OBJECT FREQ", key))
            if record.freq is not None and freq > record.freq:
                raise KeyChangedError("it was used (OBJECT FREQ grew)")
        else:
            idle = int(pipe.execute_command("OBJECT IDLETIME", key))
            if record.idle_seconds is not None and idle < record.idle_seconds:
                raise KeyChangedError("it was used (idle time reset)")
        return pttl

    def _commit(
        self, pipe: Pipeline, item: PlannedAction, command: list[Any], done: str
    ) -> ActionOutcome:
        """Run ``command`` in MULTI/EXEC; a write since WATCH aborts it (skipped)."""
        pipe.multi()
        pipe.execute_command(*command)
        try:
            (reply,) = pipe.execute()
        except redis.WatchError:
            kept = "; the key is kept (its archived copy too)" if item.action == "archive" else ""
            return ActionOutcome(item, "skipped", f"changed while acting (WATCH aborted){kept}")
        if reply in (0, False):
            return ActionOutcome(item, "skipped", f"{command[0]} had no effect")
        return ActionOutcome(item, "done", done)

    def _expire(self, pipe: Pipeline, item: PlannedAction, pttl: int) -> ActionOutcome:
        expire_ms = int((item.expire_in_seconds or 0) * 1000)
        if 0 <= pttl <= expire_ms:
            return ActionOutcome(item, "skipped", "existing TTL is already shorter")
        command: list[Any] = ["PEXPIRE", item.record.key, expire_ms]
        if self._server.supports(7, 0):
            command.append("LT")
        return self._commit(pipe, item, command, f"expires in {expire_ms} ms")

    def _archive_then_unlink(self, pipe: Pipeline, item: PlannedAction, pttl: int) -> ActionOutcome:
        record = item.record
        limit = min(self._max_payload_bytes, self._proto_max_bulk_len())
        if self._archive is None:
            return ActionOutcome(item, "failed", "no archive configured")
        if record.size_bytes > limit:
            return ActionOutcome(item, "skipped", f"value of {record.size_bytes} B over {limit} B")
        if self._no_touch:
            pipe.execute_command("CLIENT", "NO-TOUCH", "ON")
        payload = pipe.execute_command("DUMP", record.key)
        if payload is None:
            return ActionOutcome(item, "skipped", "changed since judged: key no longer exists")
        if len(payload) > limit:
            return ActionOutcome(item, "skipped", f"payload of {len(payload)} B over {limit} B")
        now = self._clock()
        self._archive.append(
            ArchiveRecord(
                db=record.db,
                key=record.key,
                type=record.type,
                payload=bytes(payload),
                expire_at_ms=int(now * 1000) + pttl if pttl >= 0 else None,
                idle_seconds=record.idle_seconds,
                freq=record.freq,
                size_bytes=record.size_bytes,
                source=self._target.display,
                run_id=self._archive.run_id,
                archived_at=now,
                rule=item.rule,
            )
        )
        if self._hooks.before_unlink is not None:
            self._hooks.before_unlink(item)
        return self._commit(pipe, item, ["UNLINK", record.key], "archived")

    _proto_limit: int | None = None

    def _proto_max_bulk_len(self) -> int:
        if self._proto_limit is None:
            self._proto_limit = read_proto_max_bulk_len(self._target.client(0))
        return self._proto_limit

    def _log(self, outcome: ActionOutcome) -> None:
        item = outcome.planned
        event = {
            "done": {"delete": "key.deleted", "expire": "key.expired", "archive": "key.archived"},
        }.get(outcome.result, {}).get(item.action, f"key.{outcome.result}")
        log.info(
            event,
            db=item.record.db,
            key=escape_key(item.record.key),
            action=item.action,
            rule=item.rule,
            bytes=item.record.size_bytes,
            reason=outcome.reason,
        )
