"""Packing the probes as raw RESP and decoding their replies (no Redis needed)."""

from __future__ import annotations

from collections.abc import Callable

import hiredis
import pytest
import redis
from redis.connection import Connection

from janitor.adapters.redis.probes import (
    KeyRecord,
    ProbePacker,
    decode_probes,
    pack_scan,
    scan_reply,
)
from janitor.adapters.redis.resp import pack_command
from janitor.domain.aggregates import (
    OTHER_PREFIX,
    KeyspaceAggregates,
    Tally,
    idle_bucket,
    key_prefix,
    size_bucket,
    ttl_bucket,
)
from janitor.domain.server import IdleMetric

KEYS = [b"plain", b"\xff\r\n%s%b", b"", b"x" * 300]


def redis_py_packing(*args: bytes | str | int) -> bytes:
    return b"".join(Connection().pack_command(*args))


def test_packed_probes_are_byte_identical_to_redis_py() -> None:
    expected = b"".join(
        redis_py_packing("MEMORY", "USAGE", key, "SAMPLES", 7)
        + redis_py_packing("OBJECT", "IDLETIME", key)
        + redis_py_packing("PTTL", key)
        + redis_py_packing("TYPE", key)
        for key in KEYS
    )
    assert ProbePacker(IdleMetric.IDLETIME, samples=7).pack(KEYS) == expected


def test_memory_usage_leaves_out_samples_at_redis_s_own_default() -> None:
    """SAMPLES 5 is MEMORY USAGE's default: two arguments fewer per key, the same answer."""
    default = ProbePacker(IdleMetric.IDLETIME, samples=5).pack(KEYS[:1])
    assert default.startswith(redis_py_packing("MEMORY", "USAGE", KEYS[0]))
    assert b"SAMPLES" not in default
    walk = ProbePacker(IdleMetric.IDLETIME, samples=0).pack(KEYS[:1])
    assert walk.startswith(redis_py_packing("MEMORY", "USAGE", KEYS[0], "SAMPLES", 0))


def test_lfu_probes_ask_for_freq() -> None:
    assert b"$4\r\nFREQ\r\n" in ProbePacker(IdleMetric.FREQ, samples=5).pack([b"k"])


def test_scan_command_with_filters() -> None:
    assert pack_scan(17, 500, b"a:*", "hash") == redis_py_packing(
        "SCAN", 17, "MATCH", b"a:*", "COUNT", 500, "TYPE", "hash"
    )
    assert pack_command("SCAN", 0, "COUNT", 10) == redis_py_packing("SCAN", 0, "COUNT", 10)
    for cursor, count in ((0, 8), (18446744073709551615, 100_000)):  # the unfiltered fast path
        assert pack_scan(cursor, count) == redis_py_packing("SCAN", cursor, "COUNT", count)


def replies_for(raw: bytes, count: int) -> list[object]:
    reader = hiredis.Reader()
    reader.feed(raw)
    return [reader.gets() for _ in range(count)]


def test_decode_builds_records_and_leaves_out_vanished_keys() -> None:
    replies = [
        *(120, 30, -1, b"string"),  # kept, no TTL
        *(None, None, -2, b"none"),  # gone before the probes
        *(64, 5, -2, b"none"),  # gone between MEMORY USAGE and PTTL
        *(2048, 7, 90_000, b"hash"),  # kept, with a TTL
    ]
    keys = [b"a", b"b", b"c", b"d"]
    records = decode_probes(3, keys, replies, IdleMetric.IDLETIME)
    assert records == [
        KeyRecord(3, b"a", "string", 120, 30, None, None),
        KeyRecord(3, b"d", "hash", 2048, 7, None, 90_000),
    ]


def test_decode_on_lfu_reports_freq() -> None:
    records = decode_probes(0, [b"hot"], [100, 42, -1, b"zset"], IdleMetric.FREQ)
    assert records == [KeyRecord(0, b"hot", "zset", 100, None, 42, None)]


def test_tracking_error_means_staleness_unknown_not_failure() -> None:
    error = replies_for(
        b"-ERR An LRU maxmemory policy is selected, access frequency not tracked.\r\n", 1
    )
    records = decode_probes(0, [b"k"], [10, error[0], -1, b"string"], IdleMetric.FREQ)
    assert records == [KeyRecord(0, b"k", "string", 10, None, None, None)]


def test_permission_error_is_raised_as_redis_py_would() -> None:
    raw = b"-NOPERM this user has no permissions to run the 'memory|usage' command\r\n"
    (error,) = replies_for(raw, 1)
    with pytest.raises(redis.exceptions.NoPermissionError, match=r"memory\|usage"):
        decode_probes(0, [b"k"], [error, 1, -1, b"string"], IdleMetric.IDLETIME)


def test_permission_error_of_redis_6_2_names_the_probed_subcommand() -> None:
    raw = b"-NOPERM this user has no permissions to run the 'object' command or its subcommand\r\n"
    (error,) = replies_for(raw, 1)
    with pytest.raises(redis.exceptions.NoPermissionError) as raised:
        decode_probes(0, [b"k"], [10, error, -1, b"string"], IdleMetric.FREQ)
    assert str(raised.value).startswith(
        "this user has no permissions to run the 'object|freq' command (this user has no "
        "permissions to run the 'object' command or its subcommand)"
    )


def test_decode_refuses_a_reply_count_that_does_not_match() -> None:
    with pytest.raises(ValueError, match="zip"):
        decode_probes(0, [b"a", b"b"], [1, 2, 3, b"string"], IdleMetric.IDLETIME)


def test_scan_reply_gives_cursor_and_keys_or_raises() -> None:
    assert scan_reply([b"42", [b"a\r\nb"]]) == (42, [b"a\r\nb"])
    (error,) = replies_for(b"-NOPERM this user has no permissions to run the 'scan' command\r\n", 1)
    with pytest.raises(redis.exceptions.NoPermissionError):
        scan_reply(error)


def test_batch_aggregation_matches_the_bucket_functions() -> None:
    records = [
        KeyRecord(db, f"p{index % 7}{sep}x".encode(), kind, size, idle, None, ttl)
        for index, (db, sep, kind, size, idle, ttl) in enumerate(
            [
                (0, ":", "string", 0, 3599, None),
                (1, ".", "hash", 1, 3600, 3_599_999),
                (0, ":", "string", 65, None, 3_600_000),
                (2, "-", "zset", 4096, 30 * 86400, 7 * 86400 * 1000),
                (0, ":", "list", 4097, 10, 1),
            ]
            * 40
        )
    ]
    batched = KeyspaceAggregates(top_n=3, separators=b":.", max_prefixes=4)
    batched.add_all(records[:77])
    batched.add_all(records[77:])

    def expected(label_of: Callable[[KeyRecord], object]) -> dict[object, Tally]:
        table: dict[object, Tally] = {}
        for record in records:
            table.setdefault(label_of(record), Tally()).add(record.size_bytes)
        return table

    assert batched.total == Tally(len(records), sum(r.size_bytes for r in records))
    assert batched.by_db == expected(lambda r: r.db)
    assert batched.by_type == expected(lambda r: r.type)
    assert batched.size_histogram == expected(lambda r: size_bucket(r.size_bytes))
    assert batched.idle_histogram == expected(lambda r: idle_bucket(r.idle_seconds))
    assert batched.ttl_histogram == expected(lambda r: ttl_bucket(r.ttl_ms))
    prefixes = expected(lambda r: key_prefix(r.key, b":."))
    admitted = list(prefixes)[:4]
    assert set(batched.by_prefix) == {*admitted, OTHER_PREFIX}
    assert all(batched.by_prefix[prefix] == prefixes[prefix] for prefix in admitted)
    assert batched.prefixes_truncated
    biggest = sorted(records, key=lambda r: -r.size_bytes)[:3]
    assert [r.size_bytes for r in batched.top_keys()] == [r.size_bytes for r in biggest]


def test_module_types_keep_their_name() -> None:
    records = decode_probes(0, [b"doc"], [300, 2, -1, b"ReJSON-RL"], IdleMetric.IDLETIME)
    assert records == [KeyRecord(0, b"doc", "ReJSON-RL", 300, 2, None, None)]
