"""Pure parsers for /proc/net/tcp, tcp6 and unix, and for the socket links in /proc/<pid>/fd.

A process's listening sockets are found by joining the inodes of its fd links
(``socket:[12345]``) with the inodes of the listening entries of these tables.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

TCP_LISTEN = "0A"
UNIX_ACCEPTING = 0x00010000
UNIX_STREAM = 1
_SOCKET_LINK = re.compile(r"^socket:\[(\d+)\]$")


@dataclass(frozen=True)
class Listener:
    """A listening socket: TCP ``host``/``port`` or a unix ``path``, and its inode."""

    inode: int
    host: str | None = None
    port: int | None = None
    path: str | None = None

    @property
    def is_unix(self) -> bool:
        """True for a unix socket."""
        return self.path is not None


def _ipv4(hex_text: str) -> str:
    return str(ipaddress.IPv4Address(int(hex_text, 16).to_bytes(4, "little")))


def _ipv6(hex_text: str) -> str:
    words = [int(hex_text[i : i + 8], 16).to_bytes(4, "little") for i in range(0, 32, 8)]
    return str(ipaddress.IPv6Address(b"".join(words)))


def parse_net_tcp(text: str) -> list[Listener]:
    """The listening sockets of ``/proc/net/tcp`` or ``/proc/net/tcp6``."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        address, _, port = fields[1].partition(":")
        host = _ipv4(address) if len(address) == 8 else _ipv6(address)
        found.append(Listener(inode=int(fields[9]), host=host, port=int(port, 16)))
    return found


def parse_net_unix(text: str) -> list[Listener]:
    """The listening stream sockets with a path in ``/proc/net/unix``."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        flags, kind, inode, path = int(fields[3], 16), int(fields[4], 16), fields[6], fields[7]
        if flags & UNIX_ACCEPTING and kind == UNIX_STREAM and not path.startswith("@"):
            found.append(Listener(inode=int(inode), path=path))
    return found


def socket_inode(link: str) -> int | None:
    """The inode of an fd link ``socket:[12345]`` (None for anything else)."""
    match = _SOCKET_LINK.match(link)
    return int(match.group(1)) if match else None


def connect_host(host: str) -> str:
    """Where to connect for a listener bound to ``host`` (a wildcard means loopback)."""
    if host == "0.0.0.0":
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host
