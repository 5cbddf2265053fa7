"""One instance's keyspace inventory: read INFO, pick the DBs, scan, aggregate (the I/O edge)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import redis

from janitor.adapters.host.priority import lowered_priority
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.scanner import (
    KeyspaceScanner,
    ProbePlan,
    ScanCursor,
    ScanOptions,
    cyclic_gc_paused,
)
from janitor.app.parallel import paced
from janitor.config.settings import Settings
from janitor.core.errors import ConfigError, UsageError
from janitor.core.logs import get_logger
from janitor.domain.aggregates import KeyspaceAggregates
from janitor.domain.cpu_budget import CpuBudgetController
from janitor.domain.keys import KeyRecord
from janitor.domain.scan_scope import ScanScope, dbs_without_expires
from janitor.domain.server import IdleMetric, ServerInfo

log = get_logger(__name__)

RecordSink = Callable[[KeyRecord], None]
SizeSink = Callable[[int, list[bytes], list[Any]], None]


class ResumeHook(Protocol):
    """Lets a run spread one pass over several runs (see app.resumable_scan)."""

    deadline: float | None
    """Monotonic time at which the scan stops (None: scan to the end)."""

    def begin(self, server: ServerInfo, dbs: list[int]) -> dict[int, int]:
        """Return the DBs to scan now and the cursor each starts from (0: the beginning)."""


@dataclass
class InstanceScan:
    """What one scan of one instance found."""

    display: str
    server: ServerInfo
    dbs: list[int]
    aggregates: KeyspaceAggregates
    duration_seconds: float
    warnings: list[str] = field(default_factory=list)
    scanned_keys: int = 0
    remaining: dict[int, int] = field(default_factory=dict)
    """DBs left unfinished by a stopped scan, with the cursor to resume from."""
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
    for db in sorted(set(only or []) - set(server.keys_per_db)):
        require_db(target, db)
    dbs = list(server.keys_per_db)
    return [db for db in dbs if only is None or db in only]


def require_db(target: RedisTarget, db: int) -> None:
    """UsageError (64) when the server has no logical database ``db`` (SELECT refuses it)."""
    pool = target.client(db).connection_pool
    try:
        with redis_errors(target.display):
            pool.release(pool.get_connection())
    except (redis.ResponseError, ConfigError) as error:  # redis_errors names it a URL problem
        reason = "DB index is out of range" if isinstance(error, ConfigError) else str(error)
        raise UsageError(
            f"--db {db}: {target.display} has no database {db} ({reason})",
            hint="its databases are numbered from 0 to the server's `databases` setting - 1",
        ) from None


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


def probe_plans(
    server: ServerInfo,
    dbs: list[int],
    scope: ScanScope | None,
    sampled: KeyspaceAggregates | None = None,
    fold_into: KeyspaceAggregates | None = None,
) -> dict[int, ProbePlan]:
    """Per DB: two-phase above ``scope.min_size`` (a run) or for the keys a sampled report
    wants; PTTL only where keys expire."""
    no_expires = dbs_without_expires(server.raw)
    min_size = scope.min_size if scope is not None else None
    select = sampled.wants_metadata if sampled is not None else None
    return {
        db: ProbePlan(
            min_size=min_size, with_ttl=db not in no_expires, select=select, fold_into=fold_into
        )
        for db in dbs
    }


def scan_options(settings: Settings, scope: ScanScope | None) -> ScanOptions:
    """The scan's options; a run's scope adds the SCAN filters every acting rule shares."""
    options = ScanOptions.from_settings(settings.scan)
    if scope is None:
        return options
    match = options.match
    if match is None and scope.match is not None:
        match = scope.match.encode()
    kind = options.type if options.type is not None else scope.type
    return replace(options, match=match, type=kind)


def scan_instance(
    target: RedisTarget,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
    on_record: RecordSink | None = None,
    scope: ScanScope | None = None,
    resume: ResumeHook | None = None,
    on_sizes: SizeSink | None = None,
) -> InstanceScan:
    """Scan every selected DB of ``target`` and return the aggregates.

    ``progress(done, total)`` is called after every batch; ``on_record`` sees every record
    (used by the planner). With a ``scope`` (a run) only keys some rule can act on are fully
    probed and recorded, so the aggregates then cover those only. Redis errors surface as
    JanitorErrors.
    """
    started = time.monotonic()
    progress = paced(progress)  # side by side with other instances: one janitor-CPU budget
    with redis_errors(target.display):
        server = read_server_info(target.client(target.url_db or 0))
        dbs = dbs_to_scan(target, server, settings.scan.dbs)
        start_at = resume.begin(server, dbs) if resume is not None else {}
        if resume is not None:
            dbs = [db for db in dbs if db in start_at]
        total = sum(server.keys_per_db.get(db, 0) for db in dbs)
        aggregates = KeyspaceAggregates(
            top_n=settings.report.top,
            separators="".join(settings.report.prefix_separators).encode(),
            max_prefixes=settings.report.max_prefixes,
        )
        sampling = scope is None and settings.report.sample < 1
        if sampling:
            aggregates.start_sampling(settings.report.sample)
        done = 0

        def advance(batch_size: int) -> None:
            nonlocal done
            done += batch_size
            if progress is not None:
                progress(done, total)

        scanner = KeyspaceScanner(
            target.client,
            server.idle_metric,
            scan_options(settings, scope),
            advance,
            plans=probe_plans(
                server,
                dbs,
                scope,
                aggregates if sampling else None,
                # A plain report: replies fold straight into the aggregates (no record per key).
                aggregates if scope is None and not sampling and on_record is None else None,
            ),
        )
        if sampling:
            scanner.on_sizes = aggregates.add_sizes
        elif on_sizes is not None:
            scanner.on_sizes = on_sizes
        scanner.start_at = {db: ScanCursor(cursor) for db, cursor in start_at.items() if cursor}
        deadline = resume.deadline if resume is not None else None
        if deadline is not None:
            scanner.stop_requested = lambda: time.monotonic() >= deadline
        add = aggregates.add_sampled if sampling else aggregates.add_all
        log.info("scan.started", dbs=dbs, keys_expected=total, idle_metric=server.idle_metric)
        with cyclic_gc_paused(), lowered_priority(settings.scan.nice):
            for batch in scanner.scan(dbs):
                if batch:  # a folded report yields empty batches (its counts go straight in)
                    add(batch)
                if on_record is not None:
                    for record in batch:
                        on_record(record)
        aggregates.finish_sampling()
    duration = time.monotonic() - started
    log.info(
        "scan.finished",
        scanned_keys=scanner.keys_scanned,
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
        scanned_keys=scanner.keys_scanned,
        remaining=scanner.remaining(dbs) if resume is not None else {},
        node=target.identity,
    )


REPLICA_IDLE_WARNING = (
    "this is a replica: its idle times only reflect the reads it served (writes and the "
    "primary's reads do not reset them); run and rescue judge keys on the primary"
)


def replica_warnings(target: RedisTarget) -> list[str]:
    """What a scan of a replica means (empty for a primary)."""
    return [REPLICA_IDLE_WARNING] if target.role == "replica" else []
