"""/proc/net parsers (recorded files in tests/fixtures/topology) and the URLs a process gets."""

from __future__ import annotations

from pathlib import Path

from janitor.adapters.host.discovery import _urls
from janitor.domain.procnet import (
    Listener,
    connect_host,
    parse_net_tcp,
    parse_net_unix,
    socket_inode,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "topology"


def test_tcp_listeners_only() -> None:
    listeners = {item.inode: item for item in parse_net_tcp((FIXTURES / "net-tcp").read_text())}
    assert set(listeners) == {169949, 40001, 40002, 40004}  # the ESTABLISHED one is left out
    assert (listeners[40001].host, listeners[40001].port) == ("127.0.0.1", 6379)
    assert (listeners[40002].host, listeners[40002].port) == ("0.0.0.0", 6789)


def test_tcp6_addresses() -> None:
    listeners = {item.inode: item for item in parse_net_tcp((FIXTURES / "net-tcp6").read_text())}
    assert (listeners[169460].host, listeners[169460].port) == ("::", 47391)
    assert (listeners[40005].host, listeners[40005].port) == ("::1", 6380)


def test_unix_listening_stream_sockets_with_a_path() -> None:
    listeners = parse_net_unix((FIXTURES / "net-unix").read_text())
    assert [(item.inode, item.path) for item in listeners] == [
        (4423, "/var/run/postgresql/.s.PGSQL.5432"),
        (40010, "/run/redis/redis.sock"),
    ]


def test_fd_links_and_wildcards() -> None:
    assert socket_inode("socket:[40010]") == 40010
    assert socket_inode("/dev/null") is None
    assert socket_inode("pipe:[12]") is None
    assert connect_host("0.0.0.0") == "127.0.0.1"
    assert connect_host("::") == "::1"
    assert connect_host("10.1.2.3") == "10.1.2.3"


def test_urls_prefer_unix_and_leave_out_the_cluster_bus() -> None:
    listeners = [
        Listener(1, host="0.0.0.0", port=16789),
        Listener(2, host="0.0.0.0", port=6789),
        Listener(3, host="::", port=6789),
        Listener(4, path="/run/redis/redis.sock"),
    ]
    assert _urls(listeners) == [
        "unix:///run/redis/redis.sock",
        "redis://127.0.0.1:6789",
        "redis://[::1]:6789",
    ]
