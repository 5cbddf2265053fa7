"""One instance's keyspace inventory: read INFO, pick the DBs, scan, aggregate (the I/O edge)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.scanner import KeyspaceScanner, ScanOptions, cyclic_gc_paused
from janitor.config.settings import Settings
from janitor.core.logs import get_logger
from janitor.domain.aggregates import KeyspaceAggregates
from janitor.domain.cpu_budget import CpuBudgetController
from janitor.domain.keys import KeyRecord
from janitor.domain.server import IdleMetric, ServerInfo

log = get_logger(__name__)

RecordSink = Callable[[KeyRecord], None]


@dataclass
class InstanceScan:
    """What one scan of one instance found."""

    display: str
    server: ServerInfo
    dbs: list[int]
    aggregates: KeyspaceAggregates
    duration_seconds: float
    warnings: list[str] = field(default_factory=list)
    node: dict[str, str | None] = field(default_factory=dict)
    """The node identity (role, cluster node id, shard, the URL given); see RedisTarget."""

    @property
    def idle_metric(self) -> IdleMetric:
        """How staleness was measured on this instance."""
        return self.server.idle_metric


def dbs_to_scan(target: RedisTarget, server: ServerInfo, only: list[int] | None) -> list[int]:
    """Return the DBs to scan: the URL's DB if it names one, else INFO keyspace's, filtered."""
    if target.url_db is not None:
        return [target.url_db]
    dbs = list(server.keys_per_db)
    return [db for db in dbs if only is None or db in only]


def compatibility_warnings(server: ServerInfo) -> list[str]:
    """Return what the operator should know about this server before trusting the report."""
    warnings = []
    if not server.supported:
        warnings.append(
            f"{server.flavor} {server.version} is older than 6.2, the oldest version supported"
        )
    if server.missing:
        warnings.append("INFO lacks " + ", ".join(server.missing) + "; those figures are unknown")
    if server.idle_metric is IdleMetric.FREQ:
        warnings.append(
            f"maxmemory-policy is {server.maxmemory_policy}: idle time is not tracked, "
            "staleness is the LFU counter (OBJECT FREQ)"
        )
    return warnings


def _budget_fields(budget: CpuBudgetController | None, duration: float) -> dict[str, float]:
    """What a paced scan cost Redis, for the ``scan.finished`` log line (nothing when unpaced)."""
    if budget is None:
        return {}
    return {
        "max_server_cpu": budget.budget,
        "server_cpu_seconds": round(budget.scan_cpu_seconds, 3),
        "server_cpu_share": round(budget.scan_cpu_seconds / duration, 3) if duration > 0 else 0.0,
    }


def scan_instance(
    target: RedisTarget,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
    on_record: RecordSink | None = None,
) -> InstanceScan:
    """Scan every selected DB of ``target`` and return the aggregates.

    ``progress(done, total)`` is called after every batch; ``on_record`` sees every record
    (used by the planner). Redis errors surface as JanitorErrors.
    """
    started = time.monotonic()
    with redis_errors(target.display):
        server = read_server_info(target.client(target.url_db or 0))
        dbs = dbs_to_scan(target, server, settings.scan.dbs)
        total = sum(server.keys_per_db.get(db, 0) for db in dbs)
        aggregates = KeyspaceAggregates(
            top_n=settings.report.top,
            separators="".join(settings.report.prefix_separators).encode(),
            max_prefixes=settings.report.max_prefixes,
        )
        done = 0

        def advance(batch_size: int) -> None:
            nonlocal done
            done += batch_size
            if progress is not None:
                progress(done, total)

        scanner = KeyspaceScanner(
            target.client, server.idle_metric, ScanOptions.from_settings(settings.scan), advance
        )
        log.info("scan.started", dbs=dbs, keys_expected=total, idle_metric=server.idle_metric)
        with cyclic_gc_paused():
            for batch in scanner.scan(dbs):
                aggregates.add_all(batch)
                if on_record is not None:
                    for record in batch:
                        on_record(record)
    duration = time.monotonic() - started
    log.info(
        "scan.finished",
        scanned_keys=aggregates.total.keys,
        scanned_bytes=aggregates.total.bytes,
        duration_seconds=round(duration, 3),
        **_budget_fields(scanner.cpu_budget, duration),
    )
    return InstanceScan(
        display=target.display,
        server=server,
        dbs=dbs,
        aggregates=aggregates,
        duration_seconds=duration,
        warnings=compatibility_warnings(server) + replica_warnings(target),
        node=target.identity,
    )


REPLICA_IDLE_WARNING = (
    "this is a replica: its idle times only reflect the reads it served (writes and the "
    "primary's reads do not reset them); run and rescue judge keys on the primary"
)


def replica_warnings(target: RedisTarget) -> list[str]:
    """What a scan of a replica means (empty for a primary)."""
    return [REPLICA_IDLE_WARNING] if target.role == "replica" else []
