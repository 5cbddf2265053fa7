"""The single Redis steps of a rescue: lift the write block, purge, BGSAVE and wait, restore.

Each step is one small function over a client, so the orchestration in ``procedure`` reads
as the list of steps it is. ``SigtermGuard`` turns SIGTERM into an exception while a rescue runs,
so the ``finally`` that restores the original settings runs on SIGTERM too.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, Literal

import redis

from janitor.adapters.files.rescue_record import OriginalSettings
from janitor.adapters.redis import writer
from janitor.adapters.redis.connection import is_permission_error
from janitor.adapters.redis.info import read_config
from janitor.app.parallel import interrupted as loop_interrupted
from janitor.core.errors import JanitorError
from janitor.core.logs import get_logger

log = get_logger(__name__)
BgsaveStatus = Literal["ok", "err", "refused", "timeout"]
"""ok; err: the save (child) failed; refused: BGSAVE was refused at once (the fork failed)."""
STOP_WRITES = "stop-writes-on-bgsave-error"
POLL_INTERVAL_SECONDS = 0.1


class RescueInterruptedError(JanitorError):
    """A SIGTERM arrived during a rescue (the original settings are restored before exiting)."""


def lift_write_block(client: redis.Redis, *, dry_run: bool) -> None:
    """``CONFIG SET stop-writes-on-bgsave-error no``: writes (and deletes) are accepted again."""
    writer.config_set(client, STOP_WRITES, "no", dry_run=dry_run)


def current_settings(client: redis.Redis) -> OriginalSettings | None:
    """The instance's ``stop-writes-on-bgsave-error`` and ``save`` now; None if CONFIG is
    forbidden."""
    config = read_config(client, STOP_WRITES, "save")
    if config is None or STOP_WRITES not in config or "save" not in config:
        return None
    return OriginalSettings(stop_writes_on_bgsave_error=config[STOP_WRITES], save=config["save"])


def put_back_settings(client: redis.Redis, original: OriginalSettings, *, dry_run: bool) -> bool:
    """Set back every setting that differs from ``original``; True when all now match."""
    now = current_settings(client)
    if now is None:
        return False
    if now.save != original.save:
        writer.config_set(client, "save", original.save, dry_run=dry_run)
    if now.stop_writes_on_bgsave_error != original.stop_writes_on_bgsave_error:
        writer.config_set(
            client, STOP_WRITES, original.stop_writes_on_bgsave_error, dry_run=dry_run
        )
    return current_settings(client) == original


def memory_purge(client: redis.Redis, *, dry_run: bool) -> bool:
    """``MEMORY PURGE``: ask jemalloc to return dirty pages now (allowed during MISCONF)."""
    try:
        writer.memory_purge(client, dry_run=dry_run)
    except redis.ResponseError as error:
        if is_permission_error(error):
            raise
        log.warning("rescue.purge_failed", error=str(error))
        return False
    return True


def _bgsave_running(client: redis.Redis) -> bool:
    info: dict[str, Any] = client.info("persistence")
    return int(info.get("rdb_bgsave_in_progress", 0)) == 1


def _last_status(client: redis.Redis) -> str:
    info: dict[str, Any] = client.info("persistence")
    return str(info.get("rdb_last_bgsave_status", "unknown"))


def wait_while_saving(
    client: redis.Redis,
    deadline: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    interrupted: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll INFO until no BGSAVE runs (True) or ``deadline`` (a ``clock`` value) passes (False).

    Raises RescueInterruptedError at the next poll once ``interrupted()`` is true.
    """
    while _bgsave_running(client):
        if interrupted():
            raise RescueInterruptedError("rescue interrupted by SIGTERM")
        if clock() >= deadline:
            return False
        sleep(POLL_INTERVAL_SECONDS)
    return True


def run_bgsave(
    client: redis.Redis,
    timeout_seconds: float,
    *,
    dry_run: bool,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    interrupted: Callable[[], bool] = lambda: False,
) -> BgsaveStatus:
    """Start a BGSAVE (after any running one), wait at most ``timeout_seconds``, return its status.

    A fork refused at once makes BGSAVE reply with an error: that is ``refused`` (no child ran,
    so trying again after freeing memory costs nothing).
    """
    deadline = clock() + timeout_seconds
    if not wait_while_saving(client, deadline, clock=clock, sleep=sleep, interrupted=interrupted):
        return "timeout"
    try:
        writer.bgsave(client, dry_run=dry_run)
    except redis.ResponseError as error:
        if is_permission_error(error):  # not a refused fork: the user lacks +bgsave
            raise
        if "already in progress" not in str(error):
            log.warning("rescue.bgsave_refused", error=str(error) or "ERR")
            return "refused"
    log.info("rescue.bgsave_started")
    if not wait_while_saving(client, deadline, clock=clock, sleep=sleep, interrupted=interrupted):
        return "timeout"
    return "ok" if _last_status(client) == "ok" else "err"


class SigtermGuard:
    """While active, SIGTERM raises RescueInterruptedError (once); ``hold()`` then only records it.

    A raise from a signal handler can be swallowed (inside a logging handler's ``emit``, say), so
    the rescue also checks ``interrupted()`` at every poll and between rounds.

    Installed only in the main thread (Python delivers signals there); elsewhere it is inert and
    the caller's own shutdown handling applies.
    """

    def __init__(self) -> None:
        self.received = False
        self._raising = True
        self._held = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        if self._raising:
            self._raising = False
            raise RescueInterruptedError("rescue interrupted by SIGTERM")

    def interrupted(self) -> bool:
        """True once SIGTERM arrived while the guard still raises (the rescue must stop); in a
        worker of a side-by-side loop, once that loop was interrupted (``app.parallel``)."""
        return (self.received or loop_interrupted()) and not self._held

    def hold(self) -> None:
        """From now on only record SIGTERM (the restore must not be interrupted)."""
        self._raising = False
        self._held = True

    def __enter__(self) -> SigtermGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False
