"""The persistence state the seed incident hinges on: is Redis refusing writes right now?

Writes (and even PING) are refused with ``-MISCONF`` when the last BGSAVE failed,
``stop-writes-on-bgsave-error`` is yes and at least one save point is configured
(docs/domain.md §1). ``parse_persistence_state`` is pure (INFO and CONFIG dicts in,
PersistenceState out); ``adapters.redis.info.read_persistence_state`` does the I/O and copes
with a server that forbids CONFIG.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

MISCONF_PREFIX = "MISCONF"
_MISCONF_REPLY = re.compile(
    r"-?\s*(?:Command # \d+ \(.*\) of pipeline caused error: )?MISCONF\b", re.DOTALL
)


def is_misconf_error(error: BaseException | str) -> bool:
    """True when a Redis error reply says writes are refused after a failed save (``-MISCONF``).

    Only the prefix is matched: the rest of the text differs between Redis and Valkey versions.
    redis-py prefixes an error inside MULTI/EXEC with ``Command # 1 (UNLINK k) of pipeline
    caused error: ``; that form is recognised too.
    """
    return _MISCONF_REPLY.match(str(error)) is not None


@dataclass(frozen=True)
class PersistenceState:
    """What INFO persistence and CONFIG say about saving, and whether writes are refused.

    ``save_points`` is the ``save`` setting split into pairs (``"3600 1 300 100"`` →
    ``["3600 1", "300 100"]``); None when CONFIG GET is not permitted (then ``writes_refused``
    falls back to what is known: a failed save with unknown settings counts as refusing).
    """

    rdb_last_bgsave_status: str | None
    rdb_bgsave_in_progress: bool
    rdb_last_save_time: int | None
    rdb_last_bgsave_time_seconds: int | None
    rdb_changes_since_last_save: int | None
    save_points: list[str] | None
    stop_writes_on_bgsave_error: bool | None

    @property
    def last_bgsave_failed(self) -> bool:
        """True when the last background save (or its fork) failed."""
        return self.rdb_last_bgsave_status == "err"

    @property
    def writes_refused(self) -> bool:
        """True when Redis refuses writes with MISCONF (unknown settings count as refusing)."""
        if not self.last_bgsave_failed:
            return False
        stop_writes = self.stop_writes_on_bgsave_error is not False
        has_save_point = self.save_points is None or bool(self.save_points)
        return stop_writes and has_save_point

    @property
    def config_known(self) -> bool:
        """True when the save settings could be read (CONFIG GET was permitted)."""
        return self.save_points is not None and self.stop_writes_on_bgsave_error is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the ``persistence`` section of report, headroom and run)."""
        document = asdict(self)
        document["last_bgsave_failed"] = self.last_bgsave_failed
        document["writes_refused"] = self.writes_refused
        return document


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def text_of(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse_save_points(save: str) -> list[str]:
    """Split a ``save`` setting into ``"seconds changes"`` pairs (``""`` → ``[]``)."""
    numbers = save.split()
    return [f"{numbers[i]} {numbers[i + 1]}" for i in range(0, len(numbers) - 1, 2)]


def parse_persistence_state(
    info: Mapping[str, Any], config: Mapping[Any, Any] | None
) -> PersistenceState:
    """Build the state from INFO (persistence section) and CONFIG GET replies (None: forbidden).

    ``config`` may have bytes or str keys and values (binary or decoding clients).
    """
    settings = {text_of(name): text_of(value) for name, value in (config or {}).items()}
    save = settings.get("save")
    stop_writes = settings.get("stop-writes-on-bgsave-error")
    status = info.get("rdb_last_bgsave_status")
    return PersistenceState(
        rdb_last_bgsave_status=text_of(status) if status is not None else None,
        rdb_bgsave_in_progress=_int_or_none(info.get("rdb_bgsave_in_progress")) == 1,
        rdb_last_save_time=_int_or_none(info.get("rdb_last_save_time")),
        rdb_last_bgsave_time_seconds=_int_or_none(info.get("rdb_last_bgsave_time_sec")),
        rdb_changes_since_last_save=_int_or_none(info.get("rdb_changes_since_last_save")),
        save_points=parse_save_points(save) if save is not None else None,
        stop_writes_on_bgsave_error=(stop_writes.lower() == "yes") if stop_writes else None,
    )
