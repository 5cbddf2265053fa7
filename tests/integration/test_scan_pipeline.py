"""The pipelined and the paced scan paths against a real redis-server."""

from __future__ import annotations

import pytest
import redis

from janitor.adapters.redis.scanner import KeyspaceScanner, ScanOptions
from janitor.domain.keys import KeyRecord
from janitor.domain.server import IdleMetric
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

KINDS = ["string", "hash", "list", "set", "zset"]


def plant_mixed(server: RedisServer, count: int) -> None:
    client = server.client()
    for index in range(count):
        ttl = 600_000 if index % 3 == 0 else 0
        key = b"k:%d:\xff\r\n" % index
        plant(client, key, kind=KINDS[index % 5], size=50 + index, idle_seconds=10_000, ttl_ms=ttl)


def reference(server: RedisServer, key: bytes) -> tuple[str, int, bool]:
    """Type, MEMORY USAGE and has-a-TTL as redis-py reports them."""
    client = server.client()
    kind = client.type(key).decode()
    return kind, int(client.memory_usage(key, samples=5)), client.pttl(key) > 0


def scanned(scanner: KeyspaceScanner) -> dict[bytes, KeyRecord]:
    records: dict[bytes, KeyRecord] = {}
    for batch in scanner.scan([0]):
        for record in batch:
            assert record.key not in records, "a key came back twice"
            records[record.key] = record
    return records


@pytest.mark.parametrize("max_server_cpu", [None, 0.5])
def test_many_small_batches_give_every_key_once_with_exact_metadata(
    redis_server: RedisServer, max_server_cpu: float | None
) -> None:
    plant_mixed(redis_server, 600)
    options = ScanOptions(count=25, max_server_cpu=max_server_cpu)
    scanner = KeyspaceScanner(redis_server.client, IdleMetric.IDLETIME, options)
    records = scanned(scanner)
    assert len(records) == 600
    for key, record in records.items():
        kind, size, expires = reference(redis_server, key)
        assert (record.type, record.size_bytes, record.ttl_ms is not None) == (kind, size, expires)
        assert record.idle_seconds is not None and record.idle_seconds >= 10_000
    if max_server_cpu is not None:
        assert scanner.cpu_budget is not None and scanner.cpu_budget.scan_cpu_seconds > 0
        assert 10 <= scanner.cpu_budget.count <= 25
    client = redis_server.client()
    assert all(client.object("idletime", key) >= 10_000 for key in list(records)[:50])


def test_progress_counts_every_scanned_key(redis_server: RedisServer) -> None:
    plant_mixed(redis_server, 130)
    seen: list[int] = []
    scanner = KeyspaceScanner(
        redis_server.client, IdleMetric.IDLETIME, ScanOptions(count=10), seen.append
    )
    assert len(scanned(scanner)) == 130
    assert sum(seen) == 130


def test_acl_refusal_mid_pipeline_raises_and_leaves_the_pool_usable(
    redis_server: RedisServer,
) -> None:
    admin = redis_server.client()
    for index in range(300):
        admin.set(f"k{index}", "v")
    admin.execute_command("ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-type")
    limited = redis_server.client(username="limited", password="pw")
    scanner = KeyspaceScanner(lambda db: limited, IdleMetric.IDLETIME, ScanOptions(count=20))
    with pytest.raises(redis.exceptions.NoPermissionError, match="type"):
        scanned(scanner)
    # The connection with unread replies was dropped, not handed back to the pool half-read.
    assert limited.get("k1") == b"v"
    assert limited.ping() is True


def test_empty_database_yields_nothing(redis_server: RedisServer) -> None:
    scanner = KeyspaceScanner(redis_server.client, IdleMetric.IDLETIME, ScanOptions())
    assert list(scanner.scan([0])) == []


def test_abandoned_scan_leaves_the_client_usable(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for index in range(100):
        client.set(f"k{index}", "v")
    scanner = KeyspaceScanner(lambda db: client, IdleMetric.IDLETIME, ScanOptions(count=10))
    batches = scanner.scan([0])
    assert next(batches)
    batches.close()  # the next batch is still on the wire
    assert client.get("k1") == b"v"
    assert len(scanned(scanner)) == 100


def test_keys_deleted_while_the_pipeline_runs_are_skipped(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for index in range(2000):
        client.set(f"k:{index}", "v")
    scanner = KeyspaceScanner(redis_server.client, IdleMetric.IDLETIME, ScanOptions(count=50))
    batches = []
    for batch in scanner.scan([0]):
        if not batches:
            seen = {record.key for record in batch}
            doomed = [key for key in client.scan_iter(count=1000) if key not in seen]
            client.delete(*doomed)
        batches.append(batch)
    # Batch 2 was already probed when the keys went; every later probe found them gone.
    assert batches[0]
    assert len(batches) >= 3, "no batch was probed after the deletion"
    assert all(not batch for batch in batches[2:])
    assert sum(len(batch) for batch in batches) < 2000
