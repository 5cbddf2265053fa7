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


@pytest.fixture(autouse=True)
def _private_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local state (lock files, history) of every test goes to its tmp dir, never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state-home"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point HOME and XDG_STATE_HOME at a temporary directory for the whole session.

    Lock files (and any other per-user state) of in-process and subprocess runs land there,
    so the suite leaves nothing in the home of the user running it.
    """
    home = tmp_path_factory.mktemp("home")
    saved = {name: os.environ.get(name) for name in _HOME_VARIABLES}
    os.environ["HOME"] = str(home)
    os.environ["XDG_STATE_HOME"] = str(home / ".local" / "state")
    os.environ.pop("STATE_DIRECTORY", None)
    try:
        yield home
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_HOME_VARIABLES = ("HOME", "XDG_STATE_HOME", "STATE_DIRECTORY")


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


TIERS = ("unit", "integration", "e2e", "system")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, from the folder it lives in (``-m e2e`` selects a tier)."""
    for item in items:
        tier = Path(str(item.path)).relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
