"""Is this Redis on this host, and is INFO's ``process_id`` really that Redis?

A pid from INFO is trusted only when the process exists under the proc root, is a
``redis-server``/``valkey-server``, and started when INFO's ``uptime_in_seconds`` says it did.
Otherwise (a container with its own pid namespace, a port forwarded elsewhere, a pid reused) the
janitor must not measure some other process's smaps as if it were Redis.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import PurePath
from urllib.parse import urlsplit

from janitor.adapters.host.memory import CLOCK_TICKS, ProcessMemory

SERVER_NAMES = ("redis-server", "valkey-server")


def _is_own_address(address: str) -> bool:
    """True for loopback addresses and addresses bound to one of this host's interfaces."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(ip), 0))  # only an address of this host can be bound
        except OSError:
            return False
    return True


def url_is_local(url: str) -> bool:
    """True when ``url`` (redis://, rediss://, unix://) points at this host."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return True
    host = parts.hostname or "localhost"
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(_is_own_address(str(info[4][0])) for info in infos)


def is_redis_process(process: ProcessMemory) -> bool:
    """True when the comm or argv[0] names redis-server or valkey-server."""
    names = [process.name or ""]
    if process.argv:
        names.append(PurePath(process.argv[0]).name)
    return any(name.startswith(SERVER_NAMES) for name in names)


def unproven_reason(
    process: ProcessMemory,
    uptime_in_seconds: int | None,
    boot_uptime_seconds: float | None,
    tolerance_seconds: float,
    clock_ticks: int = CLOCK_TICKS,
) -> str | None:
    """Return why ``process`` cannot be proven to be the Redis that reported INFO, or None."""
    if not process.exists:
        return f"pid {process.pid} from INFO does not exist here (another host or pid namespace)"
    if not is_redis_process(process):
        return f"pid {process.pid} is {process.name!r}, not a redis-server/valkey-server"
    if uptime_in_seconds is None or boot_uptime_seconds is None or process.start_ticks is None:
        return f"cannot compare the start time of pid {process.pid} with INFO uptime"
    process_age = boot_uptime_seconds - process.start_ticks / clock_ticks
    if abs(process_age - uptime_in_seconds) > tolerance_seconds:
        return (
            f"pid {process.pid} started {process_age:.0f}s ago but INFO says the server has "
            f"been up {uptime_in_seconds}s (a different process)"
        )
    return None
