"""Discovery of local Redis servers from /proc: TCP ports, a unix socket, a password-protected one.

Only the servers this test starts are looked at: the proc root handed to discovery holds links to
their /proc/<pid> directories alone (the host's other Redis servers are not ours to touch).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.adapters.host.discovery import find_local_instances
from janitor.adapters.redis.cluster import read_node_view
from janitor.app.topology import expand_targets
from janitor.config.settings import load_settings
from janitor.core.errors import RedisPermissionError
from tests.conftest import RedisFactory
from tests.support.redis_server import RedisServer
from tests.support.server_build import server_build
from tests.support.topology import cluster_node_config


def proc_of(servers: list[RedisServer], root: Path) -> Path:
    root.mkdir()
    for server in servers:
        assert server.process is not None
        (root / str(server.process.pid)).symlink_to(f"/proc/{server.process.pid}")
    (root / "self").symlink_to("/proc/self")  # not a pid: ignored
    return root


PROCESS_NAME = f"{server_build().flavor}-server"  # redis-server or valkey-server


def test_finds_tcp_and_unix_listeners_of_each_server(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    tcp_a, tcp_b = redis_factory(), redis_factory()
    unix = redis_factory(unix_socket=True)
    clustered = redis_factory(cluster_node_config())
    root = proc_of([tcp_a, tcp_b, unix, clustered], tmp_path / "proc")
    found = {instance.pid: instance for instance in find_local_instances(root)}
    for server in (tcp_a, tcp_b, unix, clustered):
        assert server.process is not None
        instance = found[server.process.pid]
        assert instance.name == PROCESS_NAME
        assert instance.problem is None
        assert instance.urls == [server.url]  # the cluster bus port is left out


def test_discover_adds_every_local_server_and_reports_the_locked_one(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    plain = redis_factory()
    unix = redis_factory(unix_socket=True)
    locked = redis_factory({"requirepass": "not-ours"})
    root = proc_of([plain, unix, locked], tmp_path / "proc")
    settings = load_settings(
        None,
        {"redis": {"urls": [plain.url], "discover": True}, "headroom": {"proc_root": str(root)}},
        environ={},
    )
    targets = expand_targets(settings)
    assert sorted(t.url for t in targets) == sorted([plain.url, unix.url, locked.url])
    assert [t.role for t in targets if t.url == unix.url] == ["primary"]
    (locked_target,) = [t for t in targets if t.url == locked.url]
    with pytest.raises(RedisPermissionError):  # the command lists it with exit 77
        read_node_view(locked_target)
