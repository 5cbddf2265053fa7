"""The rescue's durable memory: an instance's original save settings, written before any change.

A rescue lifts the write block (``CONFIG SET stop-writes-on-bgsave-error no``); if it is killed
half-way, the next ``rescue`` or ``run`` finds the pending record here and puts the originals back.
One JSON file per instance in the state directory (0700), each file 0600, written atomically
(temp file, fsync, rename, fsync of the directory). Status ``pending`` until ``complete``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from janitor.adapters.files.durable import replace_atomically
from janitor.core.errors import ConfigError

STATE_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
Status = Literal["pending", "complete"]


@dataclass(frozen=True)
class OriginalSettings:
    """The settings a rescue may change, as they were before it started."""

    stop_writes_on_bgsave_error: str
    save: str


@dataclass(frozen=True)
class RescueRecord:
    """One instance's rescue state file."""

    instance: str
    original: OriginalSettings
    status: Status
    run_id: str | None
    started_at: float
    pid: int
    completed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON content."""
        return {"version": STATE_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> RescueRecord:
        """Parse a state file's content (ValueError/KeyError/TypeError when malformed)."""
        original = document["original"]
        return cls(
            instance=str(document["instance"]),
            original=OriginalSettings(
                stop_writes_on_bgsave_error=str(original["stop_writes_on_bgsave_error"]),
                save=str(original["save"]),
            ),
            status="complete" if document["status"] == "complete" else "pending",
            run_id=document.get("run_id"),
            started_at=float(document["started_at"]),
            pid=int(document["pid"]),
            completed_at=document.get("completed_at"),
        )


def instance_key(url: str) -> str:
    """Identify an instance independently of its DB and credentials: ``host:port`` or the socket
    path (``unix:///run/redis.sock``)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or 6379}"


def state_file_name(key: str) -> str:
    """A safe, unique file name for an instance key."""
    readable = _UNSAFE.sub("_", key).strip("._")[:80] or "instance"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{readable}-{digest}.json"


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state directory 0700 (or check an existing one); ConfigError if impossible."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(state_dir, 0o700)
    except OSError as error:
        raise ConfigError([f"rescue.state_dir: cannot use {state_dir}: {error.strerror}"]) from None
    return state_dir


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    replace_atomically(path, data, 0o600)


def record_originals(
    state_dir: Path, key: str, original: OriginalSettings, run_id: str | None = None
) -> RescueRecord:
    """Durably record ``original`` for instance ``key`` as pending, before anything changes."""
    record = RescueRecord(
        instance=key,
        original=original,
        status="pending",
        run_id=run_id,
        started_at=time.time(),
        pid=os.getpid(),
    )
    _write_atomically(ensure_state_dir(state_dir) / state_file_name(key), record.to_dict())
    return record


def read_record(state_dir: Path, key: str) -> RescueRecord | None:
    """The state file of instance ``key``, or None when there is none."""
    path = state_dir / state_file_name(key)
    try:
        return RescueRecord.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def pending_restores(state_dir: Path) -> list[RescueRecord]:
    """Every record still pending (a rescue that did not finish), oldest first.

    A malformed file is skipped (it cannot be trusted to restore anything); a missing directory
    means nothing is pending.
    """
    if not state_dir.is_dir():
        return []
    records = []
    for path in sorted(state_dir.glob("*.json")):
        try:
            record = RescueRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if record.status == "pending":
            records.append(record)
    return sorted(records, key=lambda record: record.started_at)


def complete(state_dir: Path, record: RescueRecord) -> RescueRecord:
    """Mark ``record`` complete: its original settings are back in place."""
    done = RescueRecord(
        instance=record.instance,
        original=record.original,
        status="complete",
        run_id=record.run_id,
        started_at=record.started_at,
        pid=record.pid,
        completed_at=time.time(),
    )
    _write_atomically(
        ensure_state_dir(state_dir) / state_file_name(record.instance), done.to_dict()
    )
    return done
