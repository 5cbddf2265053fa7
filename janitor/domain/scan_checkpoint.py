"""A run's scan pass spread over several runs: where it stands and the best candidates so far. Pure.

A scan that hits ``scan.max_duration`` stops; the checkpoint keeps each unfinished DB's SCAN
cursor and the candidates found so far, and the next run resumes from there. SCAN's guarantee
(a key present for the whole pass is returned) holds across runs because a cursor stays valid
on the same server; a restart or failover changes INFO ``run_id`` and so starts a new pass, as
does any change of what is scanned (the DBs, the filters, the size floor). Carried candidates
are judged again from fresh probes before any action: they are only a head start.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from janitor.domain.keys import KeyRecord

CHECKPOINT_VERSION = 1


@dataclass
class ScanCheckpoint:
    """One instance's pass: the server it was taken on, what remains, what was found."""

    server_run_id: str
    scope: str
    pass_started: float
    remaining: dict[int, int]
    keys_scanned: int = 0
    candidates: list[KeyRecord] = field(default_factory=list)
    last_full_pass: float | None = None
    """When the previous complete pass ended (kept across passes, for its age)."""

    def resumable(self, server_run_id: str, scope: str) -> bool:
        """True when a pass is under way on the same server with the same scope."""
        return bool(self.remaining) and (self.server_run_id, self.scope) == (
            server_run_id,
            scope,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to the state directory."""
        return {
            "version": CHECKPOINT_VERSION,
            "server_run_id": self.server_run_id,
            "scope": self.scope,
            "pass_started": self.pass_started,
            "remaining": {str(db): cursor for db, cursor in self.remaining.items()},
            "keys_scanned": self.keys_scanned,
            "last_full_pass": self.last_full_pass,
            "candidates": [_record_dict(record) for record in self.candidates],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanCheckpoint | None:
        """Parse a checkpoint; None for another version or a damaged document."""
        try:
            if data.get("version") != CHECKPOINT_VERSION:
                return None
            return cls(
                server_run_id=str(data["server_run_id"]),
                scope=str(data["scope"]),
                pass_started=float(data["pass_started"]),
                remaining={int(db): int(cursor) for db, cursor in data["remaining"].items()},
                keys_scanned=int(data["keys_scanned"]),
                last_full_pass=_float_or_none(data.get("last_full_pass")),
                candidates=[_record(item) for item in data["candidates"]],
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def coverage(checkpoint: ScanCheckpoint | None, now: float) -> dict[str, Any]:
    """What the report says about the pass: under way or complete, and how old."""
    if checkpoint is None:
        return {"pass_complete": True, "pass_age_seconds": 0.0, "last_full_pass_age_seconds": 0.0}
    last = checkpoint.last_full_pass
    return {
        "pass_complete": not checkpoint.remaining,
        "pass_age_seconds": round(now - checkpoint.pass_started, 1),
        "keys_scanned_in_pass": checkpoint.keys_scanned,
        "last_full_pass_age_seconds": round(now - last, 1) if last is not None else None,
    }


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _record_dict(record: KeyRecord) -> dict[str, Any]:
    return {
        "db": record.db,
        "key": base64.b64encode(record.key).decode(),
        "type": record.type,
        "size": record.size_bytes,
        "idle": record.idle_seconds,
        "freq": record.freq,
        "ttl_ms": record.ttl_ms,
    }


def _record(item: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        db=int(item["db"]),
        key=base64.b64decode(item["key"], validate=True),
        type=str(item["type"]),
        size_bytes=int(item["size"]),
        idle_seconds=item["idle"],
        freq=item["freq"],
        ttl_ms=item["ttl_ms"],
    )
