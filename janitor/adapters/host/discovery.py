"""Find the redis-server / valkey-server processes of this host and where they listen (/proc).

For every process whose comm or argv[0] names a Redis server, the socket inodes of its fds
(``/proc/<pid>/fd/*`` → ``socket:[N]``) are joined with the listening sockets of its own network
namespace (``/proc/<pid>/net/tcp``, ``tcp6``, ``unix``). A process whose fds cannot be read (another
user, no CAP_SYS_PTRACE) is still listed, with the reason, so it is reported rather than skipped.
A TCP port is kept when it answers ``PING`` in RESP: a cluster bus port does not.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from janitor.adapters.host.locality import SERVER_NAMES
from janitor.core.logs import get_logger
from janitor.domain.procnet import (
    Listener,
    connect_host,
    parse_net_tcp,
    parse_net_unix,
    socket_inode,
)

log = get_logger(__name__)
CLUSTER_BUS_OFFSET = 10000


@dataclass
class LocalInstance:
    """One local Redis server process and the addresses it listens on (best first)."""

    pid: int
    name: str
    urls: list[str] = field(default_factory=list)
    problem: str | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _server_name(proc: Path) -> str | None:
    comm = (_read(proc / "comm") or "").strip()
    argv0 = (_read(proc / "cmdline") or "").split("\0", 1)[0]
    for name in (comm, Path(argv0.split(" ", 1)[0]).name):
        if name.startswith(SERVER_NAMES):
            return name
    return None


def _listeners(proc: Path) -> list[Listener]:
    found: list[Listener] = []
    for table, parse in (("tcp", parse_net_tcp), ("tcp6", parse_net_tcp), ("unix", parse_net_unix)):
        text = _read(proc / "net" / table)
        if text is not None:
            found += parse(text)
    return found


def _urls(listeners: list[Listener]) -> list[str]:
    """Unix sockets first, then TCP ports (a cluster bus port, data port + 10000, left out)."""
    ports = {item.port for item in listeners if item.port is not None}
    urls = [f"unix://{item.path}" for item in listeners if item.path]
    tcp = sorted(
        (item for item in listeners if item.port is not None and item.host is not None),
        key=lambda item: (item.port, ":" in (item.host or "")),
    )
    for item in tcp:
        if item.port is None or item.host is None or item.port - CLUSTER_BUS_OFFSET in ports:
            continue
        host = connect_host(item.host)
        url = f"redis://[{host}]:{item.port}" if ":" in host else f"redis://{host}:{item.port}"
        if url not in urls:
            urls.append(url)
    return urls


def speaks_resp(url: str, timeout: float = 0.5) -> bool:
    """True when ``url``'s TCP port answers ``PING`` in RESP (not a cluster bus or TLS port)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 0), timeout) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(1)
    except OSError:
        return False
    return reply in (b"+", b"-")


def _data_ports_first(urls: list[str]) -> list[str]:
    """Unix sockets, then the TCP ports that speak RESP; the rest (a cluster bus port with
    its own number, a TLS port) only when nothing else answered, so the instance is reported."""
    unix = [url for url in urls if url.startswith("unix://")]
    tcp = [url for url in urls if not url.startswith("unix://")]
    answering = [url for url in tcp if speaks_resp(url)]
    return unix + (answering or tcp)


def find_local_instances(proc_root: Path = Path("/proc")) -> list[LocalInstance]:
    """Every redis-server/valkey-server process under ``proc_root`` with its listening URLs."""
    instances = []
    for entry in sorted(proc_root.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not entry.name.isdigit():
            continue
        name = _server_name(entry)
        if name is None:
            continue
        instance = LocalInstance(pid=int(entry.name), name=name)
        try:
            inodes = {socket_inode(os.readlink(fd)) for fd in (entry / "fd").iterdir()}
        except OSError as error:
            instance.problem = f"cannot read /proc/{entry.name}/fd: {error.strerror}"
            instances.append(instance)
            continue
        listeners = [item for item in _listeners(entry) if item.inode in inodes]
        instance.urls = _data_ports_first(_urls(listeners))
        if not instance.urls:
            instance.problem = "no listening socket found"
        instances.append(instance)
    return instances
