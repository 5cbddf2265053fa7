"""The scanner against real redis-server processes."""

from __future__ import annotations

import redis

from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.scanner import KeyspaceScanner, ScanOptions
from janitor.app.inventory import scan_instance
from janitor.config.settings import load_settings
from janitor.domain.keys import KeyRecord
from janitor.domain.server import IdleMetric
from tests.conftest import RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

BINARY_KEYS = [
    b"\xff\xfe invalid utf8",
    b"line\nbreak",
    b"with space",
    b"nul\x00byte",
    b"caf\xc3\xa9",
]


def target_for(server: RedisServer, **redis_options: object) -> RedisTarget:
    overrides = {"redis": {"urls": [server.url], "password": server.password, **redis_options}}
    return RedisTarget(server.url, load_settings(None, overrides=overrides, environ={}))


def scan_all(server: RedisServer, **scan_options: object) -> dict[tuple[int, bytes], KeyRecord]:
    client = server.client()
    info = read_server_info(client)
    scanner = KeyspaceScanner(
        lambda db: server.client(db), info.idle_metric, ScanOptions(count=7, **scan_options)
    )
    return {(r.db, r.key): r for batch in scanner.scan(info.keys_per_db) for r in batch}


def test_planted_stale_keys_report_idle_time_type_size_and_ttl(redis_server: RedisServer) -> None:
    client = redis_server.client()
    plant(client, b"stale:big", size=50_000, idle_seconds=40 * 86400)
    plant(client, b"stale:hash", kind="hash", size=2000, idle_seconds=3 * 86400)
    plant(client, b"fresh:ttl", size=10, ttl_ms=3_600_000)
    records = scan_all(redis_server)
    big = records[(0, b"stale:big")]
    assert big.type == "string"
    assert big.size_bytes >= 50_000
    assert big.idle_seconds is not None and big.idle_seconds >= 40 * 86400
    assert big.ttl_ms is None
    assert records[(0, b"stale:hash")].type == "hash"
    ttl = records[(0, b"fresh:ttl")].ttl_ms
    assert ttl is not None and 3_500_000 < ttl <= 3_600_000


def test_scan_does_not_reset_idle_times(redis_server: RedisServer) -> None:
    client = redis_server.client()
    kinds = ["string", "hash", "list", "set", "zset"]
    for index, kind in enumerate(kinds):
        plant(client, f"old:{kind}", kind=kind, size=500, idle_seconds=1_000_000 + index)
    scan_all(redis_server)
    scan_all(redis_server, samples=0)
    for index, kind in enumerate(kinds):
        idle = client.object("idletime", f"old:{kind}")
        assert idle is not None and idle >= 1_000_000 + index, kind


def test_binary_key_names_come_back_byte_exact(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for key in BINARY_KEYS:
        client.set(key, b"v")
    assert {key for (_, key) in scan_all(redis_server)} == set(BINARY_KEYS)


def test_every_db_from_info_keyspace_is_scanned(redis_server: RedisServer) -> None:
    for db in (0, 3, 15):
        redis_server.client(db).set(f"k{db}", "v")
    assert sorted(scan_all(redis_server)) == [(0, b"k0"), (3, b"k3"), (15, b"k15")]


def test_lfu_instance_reports_freq_not_idle(redis_factory: RedisFactory) -> None:
    server = redis_factory({"maxmemory-policy": "allkeys-lfu"})
    plant(server.client(), b"hot", size=100, freq=200)
    record = scan_all(server)[(0, b"hot")]
    assert record.idle_seconds is None
    assert record.freq is not None and record.freq >= 150


def test_keys_deleted_between_scan_and_probe_are_skipped(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for index in range(200):
        client.set(f"k:{index}", "v")
    info = read_server_info(client)
    deleted: set[bytes] = set()

    class DeletingScanner(KeyspaceScanner):
        def probe(self, probe_client: redis.Redis, db: int, keys: list[bytes]) -> list[KeyRecord]:
            doomed = keys[::2]
            client.delete(*doomed)
            deleted.update(doomed)
            return super().probe(probe_client, db, keys)

    scanner = DeletingScanner(redis_server.client, info.idle_metric, ScanOptions(count=20))
    seen = {r.key for batch in scanner.scan([0]) for r in batch}
    assert deleted
    assert seen.isdisjoint(deleted)
    assert len(seen) + len(deleted) == 200


def test_match_and_type_filters(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set("a:1", "v")
    client.hset("a:2", "f", "v")
    client.set("b:1", "v")
    assert {k for _, k in scan_all(redis_server, match=b"a:*")} == {b"a:1", b"a:2"}
    assert {k for _, k in scan_all(redis_server, type="hash")} == {b"a:2"}


def test_scan_instance_aggregates_and_honours_url_db(redis_server: RedisServer) -> None:
    redis_server.client(0).set("zero", "v")
    redis_server.client(4).set("four", "v" * 1000)
    target = target_for(redis_server)
    scan = scan_instance(target, target.settings)
    assert scan.dbs == [0, 4]
    assert scan.aggregates.total.keys == 2
    only_four = RedisTarget(redis_server.url + "/4", target.settings)
    scan = scan_instance(only_four, target.settings)
    assert scan.dbs == [4]
    assert [r.key for r in scan.aggregates.top_keys()] == [b"four"]


def test_unix_socket_and_password(redis_factory: RedisFactory) -> None:
    server = redis_factory({"requirepass": "s3cret"}, unix_socket=True)
    server.client().set("k", "v")
    target = target_for(server)
    assert scan_instance(target, target.settings).aggregates.total.keys == 1
    assert read_server_info(server.client()).idle_metric is IdleMetric.IDLETIME
