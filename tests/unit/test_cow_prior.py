"""The prior's pools: a key index and the data, each saturating on its own."""

from __future__ import annotations

import math

import pytest

from janitor.domain.cow_prior import (
    INDEX_BYTES_PER_KEY,
    SINGLE_POOL_PAGES_PER_WRITE,
    inserts_copied,
    write_pools,
)

MIB = 1 << 20
PAGE = 4096


def test_the_index_is_copied_whole_long_before_the_data() -> None:
    pools = write_pools(800 * MIB, keys=1_000_000, unit=PAGE)
    assert pools.index_bytes == 1_000_000 * INDEX_BYTES_PER_KEY
    assert pools.index_bytes + pools.data_bytes == 800 * MIB
    few, many = pools.copied(10_000), pools.copied(500_000)
    assert few == pytest.approx(
        pools.index_bytes * (1 - math.exp(-3 * PAGE * 10_000 / pools.index_bytes))
        + pools.data_bytes * (1 - math.exp(-PAGE * 10_000 / pools.data_bytes))
    )
    assert many > pools.index_bytes  # the index is saturated, the data keeps growing
    assert many < 800 * MIB
    # copied per write falls as the index saturates: sublinear, unlike one pool at 3 pages
    assert many / 500_000 < 0.6 * few / 10_000


def test_without_a_key_count_one_pool_at_the_resident_set() -> None:
    pools = write_pools(800 * MIB, keys=None, unit=PAGE, payload_pages=1.5)
    assert (pools.index_bytes, pools.data_bytes) == (0, 800 * MIB)
    assert pools.data_pages == SINGLE_POOL_PAGES_PER_WRITE + 1.5
    expected = 800 * MIB * (1 - math.exp(-4.5 * PAGE * 1000 / (800 * MIB)))
    assert pools.copied(1000) == pytest.approx(expected)
    assert "saturating at RSS" in pools.describe()


def test_tiny_values_leave_everything_in_the_index() -> None:
    """Millions of small keys: the index estimate is capped at the resident set."""
    pools = write_pools(100 * MIB, keys=10_000_000, unit=PAGE)
    assert (pools.index_bytes, pools.data_bytes) == (100 * MIB, 0)
    assert pools.copied(10**9) == pytest.approx(100 * MIB)
    assert pools.copied(0) == 0


def test_huge_pages_make_each_write_copy_two_mib() -> None:
    small = write_pools(800 * MIB, keys=1_000_000, unit=PAGE).copied(100)
    huge = write_pools(800 * MIB, keys=1_000_000, unit=2 * MIB).copied(100)
    assert huge > 100 * small
    assert "key index" in write_pools(800 * MIB, 1_000_000, 2 * MIB).describe()


def test_new_keys_copy_the_bucket_table_at_most() -> None:
    """1.5M keys: 2^21 buckets of 8 B, 16 MiB, copied whole after a few inserts per page."""
    assert inserts_copied(1_500_000, 100_000, PAGE) == pytest.approx(16 * MIB)
    assert inserts_copied(2_100_000, 100_000, PAGE) == pytest.approx(32 * MIB, rel=1e-3)
    assert inserts_copied(1_500_000, 100, PAGE) == pytest.approx(100 * PAGE, rel=0.02)
    assert inserts_copied(None, 100_000, PAGE) == 0
    assert inserts_copied(1_500_000, 0, PAGE) == 0
