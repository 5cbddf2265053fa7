"""What the janitor's own DUMP did to a key's idle time, remembered across runs (Redis < 7.2).

Without ``CLIENT NO-TOUCH`` (Redis/Valkey < 7.2) the archive's ``DUMP`` resets the key's idle
time. If the archive then does not complete (a failed write, a crash, a skipped UNLINK), the
next scan would see a freshly used key and leave it for another ``min_idle`` — only because the
janitor touched it. So before the DUMP a line ``{db, key, idle, at}`` (the idle time judged and
the moment of the touch) is appended to a per-instance file in the state directory, and a
``done`` line once the key is gone. The next scan credits a remembered key with its judged idle
time, but only while the key's observed idle time shows no access after the janitor's own
(``observed >= now - at - 2 s``); any later access drops the entry. Entries older than
:data:`MAX_AGE_SECONDS` are dropped too. See docs/domain.md.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from janitor.adapters.files.durable import replace_atomically
from janitor.core.logs import get_logger
from janitor.domain.keys import KeyRecord

log = get_logger(__name__)
SLACK_SECONDS = 2
"""OBJECT IDLETIME has 1 s resolution; allow for it on both ends."""
MAX_AGE_SECONDS = 180 * 86400


@dataclass(frozen=True)
class Touch:
    """The janitor DUMPed ``key`` at ``at`` (epoch s) after judging it ``idle`` seconds idle."""

    idle: int
    at: float


def credited_idle(observed: int, touch: Touch, now: float) -> int | None:
    """The key's idle time had the janitor not touched it, or None when someone else used it
    after the touch (then the observed idle time is the truth)."""
    since_touch = max(0, int(now - touch.at))
    if observed + SLACK_SECONDS < since_touch:
        return None
    return touch.idle + since_touch


@dataclass
class TouchMemory:
    """The per-instance file of touches not yet followed by the key's removal."""

    path: Path
    credits: dict[tuple[int, bytes], int] = field(default_factory=dict)
    """Seconds of idle time credited to a key in this run (the re-check allows for them)."""
    _touches: dict[tuple[int, bytes], Touch] | None = None

    def _load(self) -> dict[tuple[int, bytes], Touch]:
        if self._touches is None:
            self._touches = {}
            try:
                lines = self.path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                lines = []
            except OSError as error:
                log.warning("touches.unreadable", path=str(self.path), error=error.strerror)
                lines = []
            for line in lines:
                self._apply(line)
        return self._touches

    def _apply(self, line: str) -> None:
        assert self._touches is not None
        try:
            entry: dict[str, Any] = json.loads(line)
            key = (int(entry["db"]), base64.b64decode(entry["key"]))
            if entry.get("done"):
                self._touches.pop(key, None)
            else:
                self._touches[key] = Touch(int(entry["idle"]), float(entry["at"]))
        except (ValueError, KeyError, TypeError):
            return  # a line torn by a crash: the touch it described is simply not credited

    def adjust(self, record: KeyRecord, now: float) -> KeyRecord:
        """``record`` with its idle time credited when the janitor's own touch reset it."""
        if record.idle_seconds is None:
            return record
        touch = self._load().get((record.db, record.key))
        if touch is None:
            return record
        credited = credited_idle(record.idle_seconds, touch, now)
        if credited is None or now - touch.at > MAX_AGE_SECONDS:
            self._touches.pop((record.db, record.key), None)  # type: ignore[union-attr]
            return record
        self.credits[(record.db, record.key)] = credited - record.idle_seconds
        return KeyRecord(
            record.db,
            record.key,
            record.type,
            record.size_bytes,
            credited,
            record.freq,
            record.ttl_ms,
        )

    def touched(self, record: KeyRecord, at: float) -> None:
        """Remember, before the DUMP, that the janitor is about to touch ``record``."""
        if record.idle_seconds is None:
            return
        self._load()[(record.db, record.key)] = Touch(record.idle_seconds, at)
        self._append(
            {"db": record.db, "key": _b64(record.key), "idle": record.idle_seconds, "at": at}
        )

    def forget(self, record: KeyRecord) -> None:
        """The key is gone (archived and unlinked): its touch no longer matters."""
        if self._load().pop((record.db, record.key), None) is not None:
            self._append({"db": record.db, "key": _b64(record.key), "done": True})

    def compact(self) -> None:
        """Rewrite the file with only the pending touches (or remove it when there are none)."""
        touches = self._load()
        if not touches:
            if self.path.exists():
                self.path.unlink(missing_ok=True)
            return
        lines = [
            json.dumps({"db": db, "key": _b64(key), "idle": touch.idle, "at": touch.at})
            for (db, key), touch in touches.items()
        ]
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_atomically(self.path, ("\n".join(lines) + "\n").encode(), 0o600)

    def _append(self, entry: dict[str, Any]) -> None:
        """Append one line (no fsync: a killed process loses nothing, only a power cut could)."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, (json.dumps(entry) + "\n").encode())
            finally:
                os.close(descriptor)
        except OSError as error:
            log.warning("touches.not_recorded", path=str(self.path), error=error.strerror)


def touch_memory_for(state_dir: Path, lock_name: str) -> TouchMemory:
    """The touch memory of one instance: ``STATE/touches/<lock file stem>.jsonl``."""
    return TouchMemory(state_dir / "touches" / f"{Path(lock_name).stem}.jsonl")


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()
