"""Put archived keys back: ``RESTORE key abs-expiry payload ABSTTL [IDLETIME s | FREQ f]``.

Keys that expired since they were archived are skipped; keys that exist are skipped unless
``replace`` (RESTORE itself refuses them with BUSYKEY, so there is no race with a writer).
Restoring the same archive twice without ``replace`` restores nothing the second time and
is harmless. A key archived several times comes back as its newest copy only. The staleness
the key had when judged is restored with it (IDLETIME on LRU targets, FREQ on LFU targets),
so a restored key does not look freshly used. A URL that names a DB (``redis://h/3``) puts every
restored key into that DB; it is refused (exit 64) when the keys come from more than one DB.
Through a Redis Cluster node's URL every key goes to the node that owns its slot (MOVED
replies are followed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as replace_fields
from pathlib import Path
from typing import Any

import redis

from janitor.adapters.files.archive import ArchiveReader, ArchiveRecord, archive_files
from janitor.adapters.redis.cluster import node_url
from janitor.adapters.redis.connection import (
    RedisTarget,
    is_permission_error,
    redis_errors,
    translate_redis_error,
)
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.key_writes import restore_key
from janitor.core.errors import UsageError
from janitor.core.keynames import escape_key, key_fields
from janitor.core.logs import get_logger
from janitor.domain.policy import KeyFilter, key_filter
from janitor.domain.server import IdleMetric

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
        level = log.warning if result == "failed" else log.info
        level(event, db=record.db, key=escape_key(record.key), reason=reason, dry_run=self.dry_run)

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


def restore_record(
    client: redis.Redis, record: ArchiveRecord, metric: IdleMetric, replace: bool, *, dry_run: bool
) -> None:
    """RESTORE ``record`` on a target tracking staleness by ``metric`` (IDLETIME or FREQ)."""
    freq = record.freq if metric is IdleMetric.FREQ else None
    idle = record.idle_seconds if metric is IdleMetric.IDLETIME else None
    restore_key(
        client,
        record.key,
        record.expire_at_ms,
        record.payload,
        replace=replace,
        idle_seconds=idle,
        freq=freq,
        dry_run=dry_run,
    )


def newest_copies(
    files: list[Path], keep: KeyFilter | None = None
) -> dict[tuple[int, bytes], tuple[int, int]]:
    """Map (db, key) → (file index, record index) of its newest archived copy.

    A key archived more than once (say a crash left it in Redis and a later run archived it
    again) must come back as its newest copy, whichever order the files are read in.
    """
    newest: dict[tuple[int, bytes], tuple[float, int, int]] = {}
    for file_index, file in enumerate(files):
        for record_index, record in enumerate(ArchiveReader(file)):
            if keep is not None and not keep(record.key):
                continue
            place = (record.archived_at, file_index, record_index)
            key = (record.db, record.key)
            if key not in newest or place >= newest[key]:
                newest[key] = place
    return {key: (place[1], place[2]) for key, place in newest.items()}


def restore_archives(
    target: RedisTarget,
    path: Path,
    *,
    match: Sequence[str] | None,
    replace: bool,
    dry_run: bool,
    exclude: Sequence[str] | None = None,
    clock: Callable[[], float] = time.time,
) -> RestoreSummary:
    """Restore the newest archived copy of every key in the file (or directory) ``path``
    matching one of ``match`` (None: every key) and none of ``exclude``."""
    if isinstance(match, str):
        match = [match]
    summary = RestoreSummary(dry_run=dry_run)
    with redis_errors(target.display):
        metric = read_server_info(target.client(target.url_db or 0)).idle_metric
    files = archive_files(path)
    newest = newest_copies(files, key_filter(list(match or []), list(exclude or [])))
    into_db = target.url_db
    source_dbs = sorted({db for db, _ in newest})
    if into_db is not None and len(source_dbs) > 1:
        raise UsageError(
            f"{target.display} names DB {into_db}, but the keys to restore come from DBs "
            f"{', '.join(map(str, source_dbs))}; restoring them into one DB would merge them",
            hint="use a URL without a DB (each key goes back to the DB it was archived from), "
            "or --match to pick keys of one DB",
        )
    for file_index, file in enumerate(files):
        reader = ArchiveReader(file)
        chosen = (
            record
            for record_index, record in enumerate(reader)
            if newest.get((record.db, record.key)) == (file_index, record_index)
        )
        _restore_records(target, chosen, summary, _Into(into_db, replace, dry_run, metric), clock)
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


@dataclass(frozen=True)
class _Into:
    """Where and how records are restored: ``db`` None puts each key back into its own DB."""

    db: int | None
    replace: bool
    dry_run: bool
    metric: IdleMetric


class _SlotOwners:
    """Follows MOVED replies to the node that owns a key's slot (a cluster restore).

    Restoring through one node's URL sends every key there first; a key of another node's
    slot comes back ``MOVED slot host:port`` and goes to that node, reached with the URL's
    scheme, credentials and TLS settings. One target per address, closed at the end.
    """

    MAX_HOPS = 3

    def __init__(self, target: RedisTarget) -> None:
        self._target = target
        self._nodes: dict[tuple[str, int], RedisTarget] = {}

    def client(self, moved: redis.exceptions.MovedError, db: int) -> redis.Redis:
        """A client for the node ``moved`` names."""
        address = (moved.host, moved.port)
        node = self._nodes.get(address)
        if node is None:
            url = node_url(self._target.url, moved.host, moved.port)
            node = self._nodes[address] = RedisTarget(url, self._target.settings)
        return node.client(db)

    def close(self) -> None:
        """Close the connections to the nodes followed."""
        for node in self._nodes.values():
            node.close()


def _restore_records(
    target: RedisTarget,
    records: Iterable[ArchiveRecord],
    summary: RestoreSummary,
    into: _Into,
    clock: Callable[[], float],
) -> None:
    owners = _SlotOwners(target)
    try:
        for archived in records:
            record = archived if into.db is None else replace_fields(archived, db=into.db)
            if record.expire_at_ms is not None and record.expire_at_ms <= clock() * 1000:
                summary.note(record, "skipped", "expired since it was archived")
                continue
            client = target.client(record.db)
            for _hop in range(_SlotOwners.MAX_HOPS):
                try:
                    _restore_one(client, record, summary, into, target.display)
                    break
                except redis.exceptions.MovedError as moved:
                    client = owners.client(moved, record.db)
            else:
                summary.note(record, "failed", "the cluster kept redirecting it (MOVED)")
    finally:
        owners.close()


def _restore_one(
    client: redis.Redis,
    record: ArchiveRecord,
    summary: RestoreSummary,
    into: _Into,
    display: str,
) -> None:
    """Restore one record on ``client`` (MovedError is left to the caller to follow)."""
    try:
        if not into.replace and client.exists(record.key):
            summary.note(record, "skipped", "key exists (use --replace)")
        elif into.dry_run:
            summary.note(record, "restored", "dry run: would restore")
        else:
            restore_record(client, record, into.metric, into.replace, dry_run=into.dry_run)
            summary.note(record, "restored")
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise translate_redis_error(error, display) from None
    except redis.exceptions.MovedError:
        raise
    except redis.ResponseError as error:
        if is_permission_error(error):  # the user lacks a rule: every key would fail alike
            raise translate_redis_error(error, display) from None
        if str(error).startswith("BUSYKEY"):
            summary.note(record, "skipped", "key exists (use --replace)")
        else:
            summary.note(record, "failed", str(error))
