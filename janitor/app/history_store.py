"""Where the history lives and how it is read and appended (never failing the command)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from janitor.adapters.files.history import HistoryFile
from janitor.adapters.redis.lock import default_lock_dir
from janitor.config.settings import Settings
from janitor.core.logs import get_logger
from janitor.domain.history import Sample

log = get_logger(__name__)
HISTORY_FILE_NAME = "history.jsonl"


def history_path(settings: Settings) -> Path:
    """``history.path``, else history.jsonl in the state directory (beside the lock files)."""
    if settings.history.path is not None:
        return settings.history.path
    return default_lock_dir(settings).parent / HISTORY_FILE_NAME


def history_file(settings: Settings) -> HistoryFile:
    """The configured history file."""
    return HistoryFile(history_path(settings), settings.history.max_bytes)


def record_samples(settings: Settings, samples: Sequence[Sample]) -> bool:
    """Append ``samples`` to the history; False (and a warning in the log) when that failed."""
    if not settings.history.enabled or not samples:
        return False
    history = history_file(settings)
    try:
        history.append(samples)
    except OSError as error:
        log.warning("history.write_failed", path=str(history.path), error=str(error))
        return False
    log.debug("history.recorded", path=str(history.path), samples=len(samples))
    return True


def read_samples(settings: Settings, since: float | None = None) -> list[Sample]:
    """The recorded samples (at or after ``since``); [] with a warning when unreadable."""
    history = history_file(settings)
    try:
        read = history.read(since)
    except OSError as error:
        log.warning("history.read_failed", path=str(history.path), error=str(error))
        return []
    if read.skipped:
        log.warning("history.lines_skipped", skipped=read.skipped, first=read.problems[0])
    return read.samples


def samples_by_instance(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """The recorded samples of the copy-on-write model's window, as JSON objects per instance."""
    if not settings.history.enabled:
        return {}
    since = time.time() - settings.history.forecast_window
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for sample in read_samples(settings, since):
        by_instance.setdefault(sample.instance, []).append(sample.to_dict())
    return by_instance
