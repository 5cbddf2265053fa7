"""Put archived keys back: ``RESTORE key abs-expiry payload ABSTTL [IDLETIME s | FREQ f]``.

Keys that expired since they were archived are skipped; keys that exist are skipped unless
``replace`` (RESTORE itself refuses them with BUSYKEY, so there is no race with a writer).
Restoring the same archive twice without ``replace`` restores nothing the second time and
is harmless. The staleness the key had when judged is restored with it (IDLETIME on LRU
targets, FREQ on LFU targets), so a restored key does not look freshly used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from janitor.archive import ArchiveReader, ArchiveRecord, archive_files
from janitor.connection import RedisTarget, translate_redis_error
from janitor.keynames import escape_key, key_fields
from janitor.logs import get_logger
from janitor.policy import glob_matches
from janitor.server_info import IdleMetric, read_server_info

log = get_logger(__name__)


@dataclass
class RestoreSummary:
    """Counts and per-key results of one restore."""

    dry_run: bool
    restored: int = 0
    skipped: int = 0
    failed: int = 0
    keys: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    def note(self, record: ArchiveRecord, result: str, reason: str = "") -> None:
        """Count one key's result and keep it for the report."""
        setattr(self, result, getattr(self, result) + 1)
        self.keys.append(
            {"db": record.db, **key_fields(record.key), "result": result, "reason": reason}
        )
        event = "key.restored" if result == "restored" else f"key.restore_{result}"
        log.info(
            event, db=record.db, key=escape_key(record.key), reason=reason, dry_run=self.dry_run
        )

    @property
    def damaged_files(self) -> int:
        """Files with damage other than a torn last record."""
        return sum(1 for entry in self.files if entry["damage"] and not entry["torn_tail"])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``restore --format json``."""
        return {
            "dry_run": self.dry_run,
            "restored": self.restored,
            "skipped": self.skipped,
            "failed": self.failed,
            "files": self.files,
            "keys": self.keys,
        }


def restore_command(record: ArchiveRecord, metric: IdleMetric, replace: bool) -> list[Any]:
    """The RESTORE arguments for ``record`` on a target tracking staleness by ``metric``."""
    command: list[Any] = ["RESTORE", record.key, record.expire_at_ms or 0, record.payload, "ABSTTL"]
    if replace:
        command.append("REPLACE")
    if metric is IdleMetric.FREQ and record.freq is not None:
        command += ["FREQ", record.freq]
    elif metric is IdleMetric.IDLETIME and record.idle_seconds is not None:
        command += ["IDLETIME", record.idle_seconds]
    return command


def restore_archives(
    target: RedisTarget,
    path: Path,
    *,
    match: str | None,
    replace: bool,
    dry_run: bool,
    clock: Callable[[], float] = time.time,
) -> RestoreSummary:
    """Restore every record of the archive file (or directory) ``path`` into ``target``."""
    summary = RestoreSummary(dry_run=dry_run)
    metric = read_server_info(target.client(target.url_db or 0)).idle_metric
    for file in archive_files(path):
        reader = ArchiveReader(file)
        _restore_records(target, reader, summary, match, replace, dry_run, metric, clock)
        summary.files.append(
            {
                "path": str(file),
                "records": reader.records_read,
                "torn_tail": reader.torn_tail,
                "damage": reader.damage,
            }
        )
        if reader.damage:
            log.warning(
                "archive.damaged", path=str(file), damage=reader.damage, torn_tail=reader.torn_tail
            )
    return summary


def _restore_records(
    target: RedisTarget,
    records: Iterable[ArchiveRecord],
    summary: RestoreSummary,
    match: str | None,
    replace: bool,
    dry_run: bool,
    metric: IdleMetric,
    clock: Callable[[], float],
) -> None:
    for record in records:
        if match is not None and not glob_matches(match, record.key):
            continue
        if record.expire_at_ms is not None and record.expire_at_ms <= clock() * 1000:
            summary.note(record, "skipped", "expired since it was archived")
            continue
        client = target.client(record.db)
        try:
            if not replace and client.exists(record.key):
                summary.note(record, "skipped", "key exists (use --replace)")
            elif dry_run:
                summary.note(record, "restored", "dry run: would restore")
            else:
                client.execute_command(*restore_command(record, metric, replace))
                summary.note(record, "restored")
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise translate_redis_error(error, target.display) from None
        except redis.ResponseError as error:
            if str(error).startswith("BUSYKEY"):
                summary.note(record, "skipped", "key exists (use --replace)")
            else:
                summary.note(record, "failed", str(error))
