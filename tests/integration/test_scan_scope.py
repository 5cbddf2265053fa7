"""What the scanner asks Redis: bounded requests, size first for a run, sampled reports."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from janitor.adapters.redis import probe_sets
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.scanner import KeyspaceScanner, ProbePlan, ScanOptions
from janitor.app.inventory import scan_instance
from janitor.config.settings import Settings, load_settings
from janitor.domain.aggregates import KeyspaceAggregates
from janitor.domain.keys import KeyRecord
from janitor.domain.scan_scope import ScanScope
from janitor.domain.server import IdleMetric
from tests.support.keys import plant
from tests.support.redis_server import RedisServer, command_calls

KIB = 1024


def sent_during(
    server: RedisServer, scanner: KeyspaceScanner
) -> tuple[list[KeyRecord], dict[str, int]]:
    before = command_calls(server)
    records = [record for batch in scanner.scan([0]) for record in batch]
    after = command_calls(server)
    return records, {name: after[name] - before.get(name, 0) for name in after}


def fill(server: RedisServer, small: int, big: int) -> None:
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for index in range(small):
        pipe.set(f"small:{index}", "v" * 20)
    pipe.execute()
    for index in range(big):
        plant(client, f"big:{index}\xff".encode(), kind="hash", size=50 * KIB, idle_seconds=5000)


def test_the_batch_bound_splits_requests_and_lifting_it_does_not(
    redis_server: RedisServer,
) -> None:
    fill(redis_server, 2000, 0)
    bounded = ScanOptions(count=1000, max_batch_server_time=100e-6)
    records, sent = sent_during(
        redis_server, KeyspaceScanner(redis_server.client, IdleMetric.IDLETIME, bounded)
    )
    assert len(records) == 2000
    # At most ~100 µs of work per request: a few dozen keys per SCAN, not a thousand.
    assert sent["scan"] >= 2000 / 60
    records, sent = sent_during(
        redis_server,
        KeyspaceScanner(redis_server.client, IdleMetric.IDLETIME, ScanOptions(count=1000)),
    )
    assert len(records) == 2000
    assert sent["scan"] <= 5


def test_size_first_probes_the_rest_only_for_big_keys(redis_server: RedisServer) -> None:
    fill(redis_server, 500, 7)
    plans = {0: ProbePlan(min_size=10 * KIB, with_ttl=True)}
    scanner = KeyspaceScanner(
        redis_server.client, IdleMetric.IDLETIME, ScanOptions(count=100), plans=plans
    )
    records, sent = sent_during(redis_server, scanner)
    assert sorted(r.key for r in records) == sorted(f"big:{i}\xff".encode() for i in range(7))
    assert all(r.type == "hash" and r.size_bytes >= 50 * KIB for r in records)
    assert all(r.idle_seconds is not None and r.idle_seconds >= 5000 for r in records)
    assert sent["memory|usage"] == 507
    assert sent["object|idletime"] == sent["type"] == sent["pttl"] == 7
    assert scanner.keys_scanned == 507


def test_no_pttl_where_nothing_expires(redis_server: RedisServer, tmp_path: Path) -> None:
    fill(redis_server, 50, 1)
    scanner = KeyspaceScanner(
        redis_server.client,
        IdleMetric.IDLETIME,
        ScanOptions(),
        plans={0: ProbePlan(with_ttl=False)},
    )
    records, sent = sent_during(redis_server, scanner)
    assert len(records) == 51 and all(r.ttl_ms is None for r in records)
    assert "pttl" not in sent or sent["pttl"] == 0
    redis_server.client().pexpire("small:3", 600_000)
    before = command_calls(redis_server).get("pttl", 0)
    scan = scan_instance(*target(redis_server, tmp_path))  # INFO keyspace now has expires=1
    assert command_calls(redis_server)["pttl"] - before == 51
    assert scan.aggregates.ttl_histogram["lt_1h"].keys == 1


def target(server: RedisServer, tmp_path: Path, **report: object) -> tuple[RedisTarget, Settings]:
    settings = load_settings(
        None, overrides={"redis": {"urls": [server.url]}, "report": report}, environ={}
    )
    return RedisTarget(server.url, settings), settings


def test_run_scope_counts_every_key_but_records_only_candidates(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    fill(redis_server, 300, 3)
    seen: list[bytes] = []
    scope = ScanScope(min_size=10 * KIB, match=None, type=None)
    scan = scan_instance(
        *target(redis_server, tmp_path), on_record=lambda r: seen.append(r.key), scope=scope
    )
    assert scan.scanned_keys == 303
    assert sorted(seen) == sorted(f"big:{i}\xff".encode() for i in range(3))


def test_sampled_report_is_exact_where_it_can_be_and_probes_fewer_keys(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    fill(redis_server, 3000, 5)
    full = scan_instance(*target(redis_server, tmp_path, top=5))
    before = command_calls(redis_server)
    sampled = scan_instance(*target(redis_server, tmp_path, top=5, sample=0.1))
    probed = command_calls(redis_server)["object|idletime"] - before["object|idletime"]
    assert probed < 3005 * 0.2
    assert sampled.aggregates.sample_rate == 0.1
    assert sampled.aggregates.total == full.aggregates.total
    assert sampled.aggregates.size_histogram == full.aggregates.size_histogram
    assert sampled.aggregates.by_prefix == full.aggregates.by_prefix
    assert [r.key for r in sampled.aggregates.top_keys()] == [
        r.key for r in full.aggregates.top_keys()
    ]
    estimate = sampled.aggregates.by_type["string"].keys
    assert 3000 * 0.7 <= estimate <= 3000 * 1.3


def test_folded_report_equals_the_record_by_record_aggregates(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        probe_sets, "FOLD_EVERY", 3
    )  # pending counts folded mid-scan and at its end
    client = redis_server.client()
    kinds = ["string", "hash", "list", "set", "zset"]
    for index in range(400):
        ttl = 3_600_000 * (index % 4) if index % 3 else 0
        plant(
            client,
            b"p%d:\xff\r\n%d" % (index % 7, index),
            kind=kinds[index % 5],
            size=30 + index * 7,
            idle_seconds=index * 500,
            ttl_ms=ttl,
        )
    folded = scan_instance(*target(redis_server, tmp_path, top=10)).aggregates
    reference = KeyspaceAggregates(top_n=10)
    scanner = KeyspaceScanner(redis_server.client, IdleMetric.IDLETIME, ScanOptions())
    for batch in scanner.scan([0]):
        reference.add_all(batch)
    for table in ("total", "by_db", "by_type", "by_prefix", "size_histogram"):
        assert getattr(folded, table) == getattr(reference, table), table
    assert folded.idle_histogram == reference.idle_histogram
    assert folded.ttl_histogram == reference.ttl_histogram
    # The same keys with the same figures (TTLs run down between the two scans).
    assert [(r.key, r.type, r.size_bytes, r.ttl_ms is None) for r in folded.top_keys()] == [
        (r.key, r.type, r.size_bytes, r.ttl_ms is None) for r in reference.top_keys()
    ]


def test_the_scan_runs_niced_and_gives_the_priority_back(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """scan.nice lowers the scanning thread's priority for the scan only (see README)."""
    fill(redis_server, 30, 0)
    thread = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, thread)
    during: list[int] = []
    server_target, settings = target(redis_server, tmp_path)
    scan_instance(
        server_target,
        settings,
        on_record=lambda _record: during.append(os.getpriority(os.PRIO_PROCESS, thread)),
    )
    assert settings.scan.nice > 0
    assert during and set(during) == {min(19, before + settings.scan.nice)}
    if os.geteuid() == 0:  # raising the priority again needs CAP_SYS_NICE
        assert os.getpriority(os.PRIO_PROCESS, thread) == before
