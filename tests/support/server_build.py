"""Which server binary the suite runs against, read from its ``--version`` line.

``redis-server --version`` prints e.g. ``Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0
bits=64 build=…``; Valkey prints ``Valkey server v=8.1.8 … malloc=libc …``. Tests that depend on
what the server can do use the markers below, which skip with a reason naming this server.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass

import pytest

SERVER_ENVIRONMENT_VARIABLE = "REDIS_JANITOR_TEST_SERVER"
# Not JANITOR_…: redis-janitor rejects unknown JANITOR_* variables as misspelt settings.
REDIS_SERVER = (
    os.environ.get(SERVER_ENVIRONMENT_VARIABLE) or shutil.which("redis-server") or "redis-server"
)
"""The binary every test server runs: ``$REDIS_JANITOR_TEST_SERVER`` or ``redis-server`` on PATH."""
_VERSION_LINE = re.compile(r"^(?P<flavor>\w+) server v=(?P<version>\d+\.\d+\.\d+)")
_MALLOC = re.compile(r"\bmalloc=(?P<allocator>\S+)")
VALKEY_REDIS_COMPATIBILITY = (7, 2, 4)
"""Valkey 7.2 and 8.x implement Redis 7.2.4's commands (their INFO says ``redis_version:7.2.4``)."""


@dataclass(frozen=True)
class ServerBuild:
    """One server binary: its flavour, version and memory allocator."""

    path: str
    flavor: str
    version: tuple[int, int, int]
    allocator: str

    @property
    def label(self) -> str:
        """E.g. ``Redis 7.0.15 (jemalloc-5.3.0)``."""
        version = ".".join(map(str, self.version))
        return f"{self.flavor.capitalize()} {version} ({self.allocator})"

    @property
    def redis_compatible(self) -> tuple[int, int, int]:
        """The Redis version whose commands this server implements."""
        if self.flavor == "valkey":
            return VALKEY_REDIS_COMPATIBILITY
        return self.version

    @property
    def jemalloc(self) -> bool:
        """True when the server allocates with jemalloc (fork-charge figures depend on it)."""
        return self.allocator.startswith("jemalloc")

    def at_least(self, major: int, minor: int = 0) -> bool:
        """True when the server implements Redis ``major.minor``'s commands."""
        return self.redis_compatible[:2] >= (major, minor)


def parse_version_line(path: str, line: str) -> ServerBuild:
    """Parse one ``--version`` line (pure)."""
    match = _VERSION_LINE.match(line.strip())
    if match is None:
        raise ValueError(f"{path} --version printed {line!r}, not a redis/valkey version line")
    major, minor, patch = (int(part) for part in match.group("version").split("."))
    malloc = _MALLOC.search(line)
    return ServerBuild(
        path=path,
        flavor=match.group("flavor").lower(),
        version=(major, minor, patch),
        allocator=malloc.group("allocator") if malloc else "unknown",
    )


@functools.cache
def server_build(path: str = REDIS_SERVER) -> ServerBuild:
    """Run ``path --version`` once and describe the binary."""
    completed = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    return parse_version_line(path, completed.stdout)


def requires(major: int, minor: int, feature: str) -> pytest.MarkDecorator:
    """Skip unless the server implements Redis ``major.minor`` (where ``feature`` appeared)."""
    build = server_build()
    return pytest.mark.skipif(
        not build.at_least(major, minor),
        reason=f"{feature} needs Redis >= {major}.{minor}; this server is {build.label}",
    )


def requires_jemalloc(why: str) -> pytest.MarkDecorator:
    """Skip unless the server allocates with jemalloc; ``why`` says what depends on it."""
    build = server_build()
    return pytest.mark.skipif(
        not build.jemalloc, reason=f"{why} needs jemalloc; this server is {build.label}"
    )


@functools.cache
def supports_tls(path: str = REDIS_SERVER) -> bool:
    """True when the binary was built with TLS (``BUILD_TLS=yes``).

    Starts it with a TLS port and certificate files that do not exist: a TLS build stops with
    "Failed to configure TLS"; a build without TLS says "Failed finding TLS support" (7.x) or
    refuses ``tls-port`` as a bad directive (6.2). Either way it exits before serving anything.
    """
    with socket.socket() as probe, tempfile.TemporaryDirectory() as scratch:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
        arguments = ["--port", "0", "--tls-port", port, "--bind", "127.0.0.1", "--save", ""]
        arguments += ["--tls-cert-file", f"{scratch}/none", "--tls-key-file", f"{scratch}/none"]
        arguments += ["--appendonly", "no", "--dir", scratch, "--logfile", ""]
        completed = subprocess.run(
            [path, *arguments], capture_output=True, text=True, timeout=30, cwd=scratch
        )
    said = completed.stdout + completed.stderr
    return "Failed finding TLS support" not in said and "Bad directive" not in said


def requires_tls() -> pytest.MarkDecorator:
    """Skip unless the server binary was built with TLS."""
    build = server_build()
    return pytest.mark.skipif(
        not supports_tls(), reason=f"this server binary ({build.label}) was built without TLS"
    )
