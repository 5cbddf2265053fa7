"""Fault injection for BGSAVE: redis-server processes whose fork() fails on demand.

The suite builds ``forkfail.c`` with the system C compiler (``cc -shared -fPIC``) once per session
and starts redis-server with it in ``LD_PRELOAD`` (docs/domain.md §6). While the test's flag file
exists, or while the server's VmRSS is above the limit in the test's limit file, ``fork()`` returns
-1 with errno ENOMEM: Redis then logs the seed incident's exact line and, with a save point
configured and ``stop-writes-on-bgsave-error yes``, refuses writes with ``-MISCONF``. Nothing
touches /proc/sys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import RedisServer, wait_for

SOURCE = Path(__file__).with_name("forkfail.c")
FORK_ENOMEM_LINE = "Can't save in background: fork: Cannot allocate memory"
MISCONF_CONFIG = {"save": "3600 1", "stop-writes-on-bgsave-error": "yes"}
"""A save point plus the default stop-writes: the configuration of the seed incident."""


def build_library(target_dir: Path) -> Path:
    """Compile forkfail.c into ``target_dir/forkfail.so`` and return its path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc) found: install build-essential")
    library = target_dir / "forkfail.so"
    command = [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror"]
    subprocess.run(
        [*command, "-o", str(library), str(SOURCE), "-ldl"],
        check=True,
        capture_output=True,
    )
    return library


@dataclass
class ForkFaults:
    """The switches of one server's fork-failure library."""

    library: Path
    directory: Path

    @property
    def flag_file(self) -> Path:
        """While this file exists, every fork fails."""
        return self.directory / "fail-forks"

    @property
    def rss_limit_file(self) -> Path:
        """Holds the VmRSS (bytes) above which forks fail."""
        return self.directory / "rss-limit"

    @property
    def trace_file(self) -> Path:
        """One line per fork the library judged: ``fail|pass rss=… limit=…``."""
        return self.directory / "trace"

    def environment(self) -> dict[str, str]:
        """The environment for redis-server: this process's plus LD_PRELOAD and the switches."""
        env = dict(os.environ)
        env.update(
            LD_PRELOAD=str(self.library),
            FORKFAIL_FLAG_FILE=str(self.flag_file),
            FORKFAIL_RSS_LIMIT_FILE=str(self.rss_limit_file),
            FORKFAIL_TRACE_FILE=str(self.trace_file),
        )
        return env

    def fail_forks(self) -> None:
        """Make every fork fail from now on."""
        self.flag_file.touch()

    def limit_rss(self, limit_bytes: int) -> None:
        """Make forks fail while the server's VmRSS is above ``limit_bytes``."""
        self.rss_limit_file.write_text(f"{limit_bytes}\n")

    def allow_forks(self) -> None:
        """Remove both conditions."""
        self.flag_file.unlink(missing_ok=True)
        self.rss_limit_file.unlink(missing_ok=True)

    def trace(self) -> list[str]:
        """The library's decisions so far."""
        try:
            return self.trace_file.read_text().splitlines()
        except FileNotFoundError:
            return []


@dataclass
class FaultyRedis:
    """A redis-server started with the fork-failure library, and its switches."""

    server: RedisServer
    faults: ForkFaults

    def rss_bytes(self) -> int:
        """The server's VmRSS now, from /proc/<pid>/status."""
        return vm_rss_bytes(self.server_pid())

    def server_pid(self) -> int:
        """The redis-server's process id."""
        assert self.server.process is not None
        return self.server.process.pid


FaultyRedisFactory = Callable[..., FaultyRedis]


def vm_rss_bytes(pid: int) -> int:
    """VmRSS of process ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def bgsave_finished(client: redis.Redis) -> str:
    """Wait (bounded) until no BGSAVE runs; return ``rdb_last_bgsave_status``."""
    wait_for(
        lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0,
        timeout=30,
        what="BGSAVE to finish",
    )
    return str(client.info("persistence")["rdb_last_bgsave_status"])


def log_lines(server: RedisServer) -> list[str]:
    """The server's log so far."""
    try:
        return server.log_path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


@pytest.fixture(scope="session")
def forkfail_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fork-failure library, built once per test session."""
    return build_library(tmp_path_factory.mktemp("forkfail"))


@pytest.fixture
def faulty_redis_factory(
    redis_factory: Callable[..., RedisServer], forkfail_library: Path, tmp_path: Path
) -> FaultyRedisFactory:
    """Start redis-servers whose fork() fails on demand (stopped with SHUTDOWN NOSAVE)."""
    count = 0

    def start(config: Mapping[str, str] | None = None) -> FaultyRedis:
        nonlocal count
        directory = tmp_path / f"forkfail-{count}"
        count += 1
        directory.mkdir()
        faults = ForkFaults(forkfail_library, directory)
        server = redis_factory(dict(config or {}), env=faults.environment())
        assert server.process is not None
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert str(forkfail_library) in maps, "redis-server did not load the LD_PRELOAD library"
        return FaultyRedis(server, faults)

    return start
