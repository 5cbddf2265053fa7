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
  * on an LFU instance (``archive.lfu_safety_copy``, on by default) delete and expire first
    take the same archive copy: under LFU nothing shows that a key was written after it was
    judged (OBJECT FREQ barely moves on a write), so the copy — DUMPed under WATCH, so it holds
    every write made before the EXEC, and any later write aborts the EXEC — is what makes sure
    no write is lost. See docs/domain.md.
``dry_run`` is checked before any command is sent: a dry run sends nothing at all. The writes
themselves go through :mod:`janitor.adapters.redis.key_writes` (the one writer).

In a Redis Cluster a key whose slot moved (``-MOVED``/``-ASK``: a migration or a failover during
the run) is skipped with that reason: it was judged on this node, never on its new owner. A
``-READONLY`` reply (this primary was demoted) fails the action and stops the acting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from redis.client import Pipeline

from janitor.adapters.files.archive import ArchiveRecord, ArchiveWriter
from janitor.adapters.files.touch_memory import TouchMemory
from janitor.adapters.redis.action_outcome import (
    PRIMARY_LOST,
    ActionHooks,
    ActionOutcome,
    KeyChangedError,
    read_proto_max_bulk_len,
)
from janitor.adapters.redis.connection import (
    RedisTarget,
    is_permission_error,
    redis_errors,
    translate_redis_error,
)
from janitor.adapters.redis.key_writes import commit_watched, pexpire_command, unlink_command
from janitor.core.keynames import escape_key
from janitor.core.logs import get_logger
from janitor.domain.planner import PlannedAction
from janitor.domain.server import IdleMetric, ServerInfo

log = get_logger(__name__)
__all__ = ["ActionHooks", "ActionOutcome", "KeyActor", "KeyChangedError", "needs_archive"]
SAFETY_COPY_ACTIONS = ("delete", "expire")
ARCHIVE_UNWRITABLE = "the archive could not be written"
SAFETY_COPY_DONE = {"delete": "deleted (safety copy archived)", "expire": " (safety copy archived)"}


def takes_safety_copy(action: str, server: ServerInfo, lfu_safety_copy: bool) -> bool:
    """True when ``action`` first archives the key: delete/expire on an LFU instance (where no
    signal shows a write between judging and acting; see docs/domain.md)."""
    return (
        lfu_safety_copy and server.idle_metric is IdleMetric.FREQ and action in SAFETY_COPY_ACTIONS
    )


def moved_reason(error: redis.exceptions.AskError) -> str:
    """Why a key whose slot moved to another node is left alone (judged here, not there)."""
    where = f"{error.host}:{error.port}" if getattr(error, "host", None) else "another node"
    return (
        f"slot {getattr(error, 'slot_id', '?')} moved to {where} during the run: the key was "
        "not judged there, so it is left for the next run"
    )


def needs_archive(
    actions: Iterable[PlannedAction], server: ServerInfo, *, lfu_safety_copy: bool
) -> bool:
    """True when acting on ``actions`` may write to the archive (open and check it first)."""
    return any(
        item.action == "archive" or takes_safety_copy(item.action, server, lfu_safety_copy)
        for item in actions
    )


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
        *,
        lfu_safety_copy: bool = True,
        touches: TouchMemory | None = None,
    ) -> None:
        self._target = target
        self._server = server
        self._archive = archive
        self._max_payload_bytes = max_payload_bytes
        self._samples = samples
        self._hooks = hooks or ActionHooks()
        self._clock = clock
        self._no_touch = server.supports(7, 2)
        self._lfu_safety_copy = lfu_safety_copy
        self._touches = touches if not self._no_touch else None
        self.archive_failure: tuple[str, str] | None = None
        """Where and why the archive could not be written; archiving stops then."""
        self._transactions_checked: set[int] = set()

    def act(self, item: PlannedAction, *, dry_run: bool) -> ActionOutcome:
        """Carry out ``item`` unless ``dry_run``; Redis refusals become ``failed`` outcomes."""
        if dry_run:
            return ActionOutcome(item, "planned", "dry run")
        self._check_transactions(item.record.db)
        if self.archive_failure is not None and self._needs_archive(item):
            return ActionOutcome(item, "skipped", f"not tried: {ARCHIVE_UNWRITABLE}")
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
            if is_permission_error(error):  # the user lacks a rule: every key would fail alike
                raise translate_redis_error(error, self._target.display) from None
            outcome = ActionOutcome(item, "failed", str(error))
        except OSError as error:
            outcome = ActionOutcome(item, "failed", f"archive write failed: {error.strerror}")
            where = self._archive.path or self._archive.directory if self._archive else None
            self.archive_failure = (str(where), error.strerror or str(error))
        if self._touches is not None and outcome.result == "done" and self._needs_archive(item):
            self._touches.forget(item.record)
        self._log(outcome)
        return outcome

    def _needs_archive(self, item: PlannedAction) -> bool:
        return item.action == "archive" or takes_safety_copy(
            item.action, self._server, self._lfu_safety_copy
        )

    def archive_error(self, outcomes: list[ActionOutcome]) -> str | None:
        """The one message for a failed archive: where, why, and how many keys were kept."""
        if self.archive_failure is None:
            return None
        kept = sum(
            1
            for outcome in outcomes
            if outcome.reason.startswith("archive write failed")
            or (outcome.result == "skipped" and ARCHIVE_UNWRITABLE in outcome.reason)
        )
        where, reason = self.archive_failure
        if self._archive is not None and self._archive.path is None:
            where = str(self._archive.directory)  # the file held nothing and was removed
        return f"archive {where} could not be written: {reason}; {kept} keys were not deleted"

    def _check_transactions(self, db: int) -> None:
        """Run an empty MULTI/EXEC once per DB before the first action.

        A user refused MULTI would otherwise see each action's command run at once, outside
        the WATCHed transaction that guards a key changed since it was judged (Redis answers
        the MULTI with NOPERM, runs the command, then refuses EXEC): exit 77 before any key.
        """
        if db in self._transactions_checked:
            return
        pool = self._target.client(db).connection_pool
        connection = pool.get_connection()
        try:
            with redis_errors(self._target.display):
                for command in ("MULTI", "EXEC"):
                    connection.send_command(command)
                    connection.read_response()
        except BaseException:
            connection.disconnect()  # a half-open transaction must not go back to the pool
            raise
        finally:
            pool.release(connection)
        self._transactions_checked.add(db)

    def _act(self, item: PlannedAction) -> ActionOutcome:
        key = item.record.key
        with self._target.client(item.record.db).pipeline(transaction=True) as pipe:
            pipe.watch(key)
            try:
                pttl = self._check_unchanged(pipe, item)
            except KeyChangedError as changed:
                return ActionOutcome(item, "skipped", f"changed since judged: {changed}")
            if item.action == "expire":
                return self._expire(pipe, item, pttl)
            if takes_safety_copy(item.action, self._server, self._lfu_safety_copy):
                refused = self._copy_to_archive(pipe, item, pttl)
                if refused is not None:
                    return refused
                if self._hooks.before_unlink is not None:
                    self._hooks.before_unlink(item)
                return self._commit(pipe, item, unlink_command(key), SAFETY_COPY_DONE["delete"])
            if item.action == "delete":
                return self._commit(pipe, item, unlink_command(key), "deleted")
            if item.action == "archive":
                refused = self._copy_to_archive(pipe, item, pttl)
                if refused is not None:
                    return refused
                if self._hooks.before_unlink is not None:
                    self._hooks.before_unlink(item)
                return self._commit(pipe, item, unlink_command(key), "archived")
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
        # TTL before size: on Valkey 8 setting a TTL alone changes MEMORY USAGE (embedded expiry).
        pttl = int(pipe.execute_command("PTTL", key))
        if record.ttl_ms is None and pttl >= 0:
            raise KeyChangedError("a TTL was set")
        if record.ttl_ms is not None and not 0 <= pttl <= record.ttl_ms:
            raise KeyChangedError("the TTL was removed or lengthened")
        size = pipe.execute_command("MEMORY USAGE", key, "SAMPLES", self._samples)
        if size is None or int(size) != record.size_bytes:
            raise KeyChangedError(f"size is now {size} bytes")
        if self._server.idle_metric is IdleMetric.FREQ:
            freq = int(pipe.execute_command("OBJECT FREQ", key))
            if record.freq is not None and freq > record.freq:
                raise KeyChangedError("it was used (OBJECT FREQ grew)")
        else:
            idle = int(pipe.execute_command("OBJECT IDLETIME", key))
            credit = self._touches.credits.get((record.db, key), 0) if self._touches else 0
            if record.idle_seconds is not None and idle < record.idle_seconds - credit:
                raise KeyChangedError("it was used (idle time reset)")
        return pttl

    def _commit(
        self, pipe: Pipeline, item: PlannedAction, command: list[Any], done: str
    ) -> ActionOutcome:
        """Run ``command`` in MULTI/EXEC; a write since WATCH aborts it (skipped)."""
        try:
            reply = commit_watched(pipe, command, dry_run=False)  # act() returned in a dry run
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
        done = f"expires in {expire_ms} ms"
        if takes_safety_copy(item.action, self._server, self._lfu_safety_copy):
            refused = self._copy_to_archive(pipe, item, pttl)
            if refused is not None:
                return refused
            done += SAFETY_COPY_DONE["expire"]
        command = pexpire_command(item.record.key, expire_ms, less_than=self._server.supports(7, 0))
        return self._commit(pipe, item, command, done)

    def _copy_to_archive(
        self, pipe: Pipeline, item: PlannedAction, pttl: int
    ) -> ActionOutcome | None:
        """DUMP the WATCHed key into the archive (durable on return); an outcome when refused.

        The DUMP runs under WATCH, so the copy holds every write made before it, and any write
        after it aborts the EXEC that follows: the key is then kept (and the copy too).
        """
        record = item.record
        limit = min(self._max_payload_bytes, self._proto_max_bulk_len())
        what = "archive" if item.action == "archive" else "safety copy (LFU)"
        if self._archive is None:
            return ActionOutcome(item, "failed", f"no archive configured for the {what}")
        if record.size_bytes > limit:
            return ActionOutcome(item, "skipped", f"value of {record.size_bytes} B over {limit} B")
        if self._no_touch:
            pipe.execute_command("CLIENT", "NO-TOUCH", "ON")
        elif self._touches is not None:
            self._touches.touched(record, self._clock())
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
        return None

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
        level = log.warning if outcome.result == "failed" else log.info
        level(
            event,
            db=item.record.db,
            key=escape_key(item.record.key),
            action=item.action,
            rule=item.rule,
            bytes=item.record.size_bytes,
            reason=outcome.reason,
        )
