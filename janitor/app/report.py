"""The dry-run report as a JSON-ready document (pure: scans in, plain dicts out).

The document is a contract for scripts: ``schema_version`` changes whenever a field changes
meaning or disappears. Sizes are bytes, times are seconds, keys come as escaped text plus base64.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from janitor.app.inventory import InstanceScan
from janitor.core.keynames import escape_key, key_base64, key_fields
from janitor.domain.aggregates import (
    IDLE_BUCKETS,
    IDLE_NOT_TRACKED,
    OTHER_PREFIX,
    TTL_BUCKETS,
    TTL_NONE,
    KeyspaceAggregates,
    Tally,
)
from janitor.domain.keys import KeyRecord

SCHEMA_VERSION = 1


def key_entry(record: KeyRecord, instance: str | None = None) -> dict[str, Any]:
    """Return the JSON form of one scanned key."""
    entry: dict[str, Any] = {"db": record.db, **key_fields(record.key)}
    entry.update(
        type=record.type,
        bytes=record.size_bytes,
        idle_seconds=record.idle_seconds,
        freq=record.freq,
        ttl_seconds=record.ttl_seconds,
    )
    if instance is not None:
        entry["instance"] = instance
    return entry


SAMPLED_SECTIONS = ["by_type", "idle_histogram", "ttl_buckets"]
"""The sections a sampled report estimates (the others are exact)."""


def _tally(tally: Tally) -> dict[str, int]:
    return {"keys": tally.keys, "bytes": tally.bytes}


def _by_bytes(table: dict[Any, Tally]) -> list[tuple[Any, Tally]]:
    return sorted(table.items(), key=lambda item: (-item[1].bytes, str(item[0])))


def aggregate_sections(aggregates: KeyspaceAggregates) -> dict[str, Any]:
    """Return every aggregate section (all but top_keys) of the report."""
    prefixes = []
    for prefix, tally in _by_bytes(aggregates.by_prefix):
        label = "(other)" if prefix == OTHER_PREFIX else escape_key(prefix)
        prefixes.append({"prefix": label, "prefix_base64": key_base64(prefix), **_tally(tally)})
    idle_labels = [label for label, _ in IDLE_BUCKETS] + [IDLE_NOT_TRACKED]
    ttl_labels = [TTL_NONE] + [label for label, _ in TTL_BUCKETS]
    return {
        "scanned_keys": aggregates.total.keys,
        "scanned_bytes": aggregates.total.bytes,
        "by_db": [{"db": db, **_tally(t)} for db, t in sorted(aggregates.by_db.items())],
        "by_type": [{"type": name, **_tally(t)} for name, t in _by_bytes(aggregates.by_type)],
        "by_prefix": prefixes,
        "prefixes_truncated": aggregates.prefixes_truncated,
        "size_histogram": [
            {"le_bytes": bound, **_tally(t)}
            for bound, t in sorted(aggregates.size_histogram.items())
        ],
        "idle_histogram": {
            label: _tally(aggregates.idle_histogram.get(label, Tally())) for label in idle_labels
        },
        "ttl_buckets": {
            label: _tally(aggregates.ttl_histogram.get(label, Tally())) for label in ttl_labels
        },
        "sample_rate": aggregates.sample_rate,
        "sampled_sections": SAMPLED_SECTIONS if aggregates.sample_rate else [],
    }


def instance_section(scan: InstanceScan) -> dict[str, Any]:
    """Return the per-instance part of the report."""
    rate = scan.aggregates.total.keys / scan.duration_seconds if scan.duration_seconds else None
    return {
        "url": scan.display,
        "node": scan.node,
        "server": {
            "flavor": scan.server.flavor,
            "version": scan.server.version,
            "maxmemory_policy": scan.server.maxmemory_policy,
            "used_memory_bytes": scan.server.used_memory_bytes,
        },
        "idle_metric": scan.idle_metric.value,
        "dbs": scan.dbs,
        "duration_seconds": round(scan.duration_seconds, 3),
        "keys_per_second": round(rate, 1) if rate is not None else None,
        "warnings": scan.warnings,
        "top_keys": [key_entry(record) for record in scan.aggregates.top_keys()],
        **aggregate_sections(scan.aggregates),
    }


def build_report(
    scans: list[InstanceScan], run_id: str, top_n: int, now: datetime | None = None
) -> dict[str, Any]:
    """Return the report document over all instances (combined figures plus each instance)."""
    combined = KeyspaceAggregates(top_n=top_n, max_prefixes=10**9)
    top: list[tuple[KeyRecord, str]] = []
    for scan in scans:
        combined.merge(scan.aggregates)
        top.extend((record, scan.display) for record in scan.aggregates.top_keys())
    top.sort(key=lambda item: -item[0].size_bytes)
    generated = now or datetime.now(UTC)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "report",
        "dry_run": True,
        "run_id": run_id,
        "generated_at": generated.isoformat(timespec="seconds"),
        "idle_metrics": sorted({scan.idle_metric.value for scan in scans}),
        "top_keys": [key_entry(record, instance) for record, instance in top[:top_n]],
        **aggregate_sections(combined),
        "instances": [instance_section(scan) for scan in scans],
    }
