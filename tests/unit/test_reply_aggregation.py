"""Folding probe replies straight into the aggregates (no Redis needed)."""

from __future__ import annotations

from itertools import repeat

import hiredis

from janitor.domain.aggregates import KeyspaceAggregates
from janitor.domain.keys import KeyRecord
from janitor.domain.reply_aggregation import fold_replies


def test_plain_replies_fold_like_records_and_the_rest_is_handed_back() -> None:
    keys = [b"a:1", b"a:2", b"gone", b"b:\xff", b"err"]
    sizes = [100, 5000, None, 70, 10]
    idle = [10, 90_000, None, 5, 1]
    pttl = [-1, 7_200_000, -2, -1, 1]
    types = [b"string", b"hash", b"none", b"zset", hiredis.ReplyError("NOPERM")]
    folded = KeyspaceAggregates(top_n=2)
    unusual = fold_replies(folded, 3, keys, (sizes, idle, pttl, types), is_freq=False)
    assert unusual == [2, 4]
    reference = KeyspaceAggregates(top_n=2)
    reference.add_all(
        [
            KeyRecord(3, b"a:1", "string", 100, 10, None, None),
            KeyRecord(3, b"a:2", "hash", 5000, 90_000, None, 7_200_000),
            KeyRecord(3, b"b:\xff", "zset", 70, 5, None, None),
        ]
    )
    assert folded.by_prefix == reference.by_prefix
    assert folded.idle_histogram == reference.idle_histogram
    assert folded.ttl_histogram == reference.ttl_histogram
    assert folded.top_keys() == reference.top_keys()


def test_lfu_and_no_pttl() -> None:
    folded = KeyspaceAggregates()
    replies = ([64], [7], repeat(-1), [b"list"])
    assert fold_replies(folded, 0, [b"k"], replies, is_freq=True) == []
    (record,) = folded.top_keys()
    assert (record.freq, record.idle_seconds, record.ttl_ms) == (7, None, None)
    assert set(folded.idle_histogram) == {"not_tracked"}


def test_counts_left_pending_fold_into_the_same_aggregates_later() -> None:
    """Small requests share one pending table; the top-N is kept current meanwhile."""
    keys = [b"a:1", b"a:2", b"b:1"]
    replies = ([100, 5000, 70], [10, 90_000, 5], [-1, 7_200_000, -1], [b"string"] * 3)
    direct = KeyspaceAggregates(top_n=2)
    fold_replies(direct, 0, keys, replies, is_freq=False)
    fold_replies(direct, 0, keys, replies, is_freq=False)
    later = KeyspaceAggregates(top_n=2)
    pending: dict[tuple[int, str, int, str, str, bytes], list[int]] = {}
    fold_replies(later, 0, keys, replies, is_freq=False, pending=pending)
    fold_replies(later, 0, keys, replies, is_freq=False, pending=pending)
    assert later.total.keys == 0 and later.top_keys() == direct.top_keys()
    later.fold(pending)
    assert later.total == direct.total and later.by_prefix == direct.by_prefix
    assert later.size_histogram == direct.size_histogram
