"""Streaming aggregates: bounded top-N, prefixes, histograms."""

from janitor.domain.aggregates import (
    OTHER_PREFIX,
    KeyspaceAggregates,
    idle_bucket,
    key_prefix,
    size_bucket,
    ttl_bucket,
)
from janitor.domain.keys import KeyRecord


def record(key: bytes, size: int, idle: int | None = 0, ttl_ms: int | None = None) -> KeyRecord:
    return KeyRecord(0, key, "string", size, idle, None, ttl_ms)


def test_size_bucket_is_next_power_of_two() -> None:
    assert [size_bucket(n) for n in (0, 1, 2, 3, 64, 65, 1000)] == [1, 1, 2, 4, 64, 128, 1024]


def test_idle_and_ttl_buckets_edges() -> None:
    assert idle_bucket(3599) == "lt_1h"
    assert idle_bucket(3600) == "lt_1d"
    assert idle_bucket(30 * 86400) == "ge_30d"
    assert idle_bucket(None) == "not_tracked"
    assert ttl_bucket(None) == "none"
    assert ttl_bucket(59 * 60 * 1000) == "lt_1h"
    assert ttl_bucket(8 * 86400 * 1000) == "ge_7d"


def test_key_prefix_uses_any_separator() -> None:
    assert key_prefix(b"user:1", b":") == b"user"
    assert key_prefix(b"a.b:c", b":.") == b"a"
    assert key_prefix(b"plain", b":") == b""


def test_top_n_keeps_only_the_largest_in_order() -> None:
    aggregates = KeyspaceAggregates(top_n=3)
    for size in (5, 50, 1, 500, 20, 5000):
        aggregates.add(record(f"k{size}".encode(), size))
    assert [r.size_bytes for r in aggregates.top_keys()] == [5000, 500, 50]
    assert len(aggregates._top) == 3
    assert aggregates.total.keys == 6
    assert aggregates.total.bytes == 5576


def test_top_n_ties_come_out_in_key_order() -> None:
    aggregates = KeyspaceAggregates(top_n=5)
    for key in (b"c", b"a", b"b"):
        aggregates.add(record(key, 64))
    aggregates.add(record(b"z", 128))
    assert [r.key for r in aggregates.top_keys()] == [b"z", b"a", b"b", b"c"]


def test_prefixes_are_capped_and_overflow_goes_to_other() -> None:
    aggregates = KeyspaceAggregates(max_prefixes=2)
    for index in range(10):
        aggregates.add(record(f"p{index}:x".encode(), 10))
    assert len(aggregates.by_prefix) == 3
    assert aggregates.by_prefix[OTHER_PREFIX].keys == 8
    assert aggregates.prefixes_truncated


def test_histograms_count_keys_and_bytes() -> None:
    aggregates = KeyspaceAggregates()
    aggregates.add(record(b"a", 100, idle=10, ttl_ms=1000))
    aggregates.add(record(b"b", 3000, idle=40 * 86400))
    assert aggregates.idle_histogram["lt_1h"].keys == 1
    assert aggregates.idle_histogram["ge_30d"].bytes == 3000
    assert aggregates.ttl_histogram["none"].keys == 1
    assert aggregates.size_histogram[4096].bytes == 3000


def test_merge_combines_instances() -> None:
    first, second = KeyspaceAggregates(top_n=2), KeyspaceAggregates(top_n=2)
    first.add(record(b"a:1", 10))
    second.add(record(b"a:2", 30))
    second.add(record(b"b:1", 20))
    first.merge(second)
    assert first.total.keys == 3
    assert first.by_prefix[b"a"].keys == 2
    assert [r.key for r in first.top_keys()] == [b"a:2", b"b:1"]
