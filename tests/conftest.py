"""Shared fixtures: throwaway redis-server processes and the installed CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.forkfail import faulty_redis_factory, forkfail_library  # noqa: F401 (fixtures)
from tests.support.redis_server import RedisServer
from tests.support.server_build import (
    REDIS_SERVER,
    SERVER_ENVIRONMENT_VARIABLE,
    ServerBuild,
    server_build,
)

CLI = str(Path(sys.executable).with_name("redis-janitor"))
RedisFactory = Callable[..., RedisServer]


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[RedisFactory]:
    """Start redis-server processes with per-test config; all are stopped after the test."""
    started: list[RedisServer] = []

    def start(
        config: Mapping[str, str] | None = None,
        unix_socket: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> RedisServer:
        workdir = tmp_path / f"redis-{len(started)}"
        server = RedisServer(workdir, dict(config or {}), unix_socket=unix_socket, env=env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_server(redis_factory: RedisFactory) -> RedisServer:
    """A plain throwaway redis-server on a free port."""
    return redis_factory()


def pytest_report_header() -> str:
    """Name the server binary under test (``$REDIS_JANITOR_TEST_SERVER`` picks another one)."""
    build = server_build()
    return f"redis server: {build.label} at {REDIS_SERVER} (${SERVER_ENVIRONMENT_VARIABLE})"


@pytest.fixture(scope="session")
def redis_build() -> ServerBuild:
    """The server binary the suite runs against: flavour, version, allocator."""
    return server_build()


@dataclass
class CliResult:
    """What one run of the installed command did."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as the one JSON document it must be."""
        return json.loads(self.stdout)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without JANITOR_* / credentials, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("JANITOR_") and name != "CREDENTIALS_DIRECTORY"
    }
    env.update(extra or {})
    return env


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the installed ``redis-janitor`` with ``args``; never inherits JANITOR_* settings."""

    def run(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> CliResult:
        completed = subprocess.run(
            [CLI, *args],
            capture_output=True,
            text=True,
            env=clean_env(env),
            timeout=timeout,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    return run
