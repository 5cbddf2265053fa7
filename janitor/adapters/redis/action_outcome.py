"""What one key action ended with, the test seams, and the server's bulk-length limit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from janitor.core.keynames import key_fields
from janitor.domain.persistence import is_misconf_error
from janitor.domain.planner import PlannedAction

DEFAULT_PROTO_MAX_BULK_LEN = 512 * 1024**2
Hook = Callable[[PlannedAction], None]


PRIMARY_LOST = "the node is no longer a primary (failover during the run)"


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
