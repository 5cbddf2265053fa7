"""Throwaway redis-server processes for the tests: free port or unix socket, stopped for sure.

Never used against a Redis the suite did not start. Servers are stopped with SHUTDOWN NOSAVE
(a server whose final save fails refuses to exit on SIGTERM), then SIGKILL as a fallback.
The binary is ``$REDIS_JANITOR_TEST_SERVER`` (default: ``redis-server`` on PATH); see
``tests/support/server_build.py`` for what it is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.server_build import REDIS_SERVER, server_build

ONLY_FROM_7_0 = frozenset({"enable-debug-command", "enable-protected-configs"})
"""Settings Redis 7.0 added to allow what older servers always allow (DEBUG, CONFIG SET dir)."""
_T = TypeVar("_T")


def wait_for(
    condition: Callable[[], _T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> _T:
    """Poll ``condition`` until it returns a truthy value or ``timeout`` passes (then fail)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}: {last_error}")


def command_calls(server: RedisServer) -> dict[str, int]:
    """Calls per command so far (INFO commandstats), subcommands named as on 7.0+.

    Redis 6.2 counts ``MEMORY USAGE`` and ``OBJECT IDLETIME`` under their container command.
    """
    stats = server.client().info("commandstats")
    counted = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    for subcommand in ("memory|usage", "object|idletime"):
        counted.setdefault(subcommand, counted.get(subcommand.split("|")[0], 0))
    return counted


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """One redis-server process owned by the test suite."""

    workdir: Path
    config: Mapping[str, str] = field(default_factory=dict)
    unix_socket: bool = False
    env: Mapping[str, str] | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        """Where the unix socket lives (when ``unix_socket``)."""
        return self.workdir / "redis.sock"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.workdir / "redis.log"

    @property
    def password(self) -> str | None:
        """The ``requirepass`` the server was started with, if any."""
        return self.config.get("requirepass")

    @property
    def url(self) -> str:
        """A URL without credentials."""
        if self.unix_socket:
            return f"unix://{self.socket_path}"
        scheme = "rediss" if self.tls_cert else "redis"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        """Start the server and wait (bounded) until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            self.port = 0 if self.unix_socket else free_port()
            self.process = subprocess.Popen(
                [REDIS_SERVER, *self._arguments()],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(self.env) if self.env is not None else None,
            )
            try:
                wait_for(self._answers, timeout=10, what=f"redis-server on {self.url}")
                return self
            except TimeoutError:
                self.stop()
                if attempt == 4:
                    raise
        return self

    def _arguments(self) -> list[str]:
        settings: dict[str, str] = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "save": "",
            "appendonly": "no",
            "dir": str(self.workdir),
            "logfile": str(self.log_path),
            "daemonize": "no",
            "protected-mode": "no",
        }
        if self.unix_socket:
            settings.update(port="0", unixsocket=str(self.socket_path), unixsocketperm="700")
        if self.tls_cert and self.tls_key:
            settings.update(
                {
                    "port": "0",
                    "tls-port": str(self.port),
                    "tls-cert-file": str(self.tls_cert),
                    "tls-key-file": str(self.tls_key),
                    "tls-ca-cert-file": str(self.tls_cert),
                    "tls-auth-clients": "no",
                }
            )
        settings.update(self.config)
        if not server_build().at_least(7, 0):
            settings = {name: v for name, v in settings.items() if name not in ONLY_FROM_7_0}
        arguments: list[str] = []
        for name, value in settings.items():
            # Redis 6.2 silently ignores `--save "3600 1"` (one quoted argument): split it.
            values = value.split() if name == "save" and value.strip() else [value]
            arguments += [f"--{name}", *values]
        return arguments

    def _answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {self._log_tail()}")
        return bool(self.client().ping())

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def client(self, db: int = 0, **options: Any) -> redis.Redis:
        """Return a client for this server (binary-safe, authenticated as the admin)."""
        options.setdefault("password", self.password)
        options.setdefault("socket_timeout", 10)
        if self.unix_socket:
            return redis.Redis(unix_socket_path=str(self.socket_path), db=db, **options)
        if self.tls_cert:
            options.update(ssl=True, ssl_ca_certs=str(self.tls_cert))
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, **options)

    def stop(self) -> None:
        """Stop the server: SHUTDOWN NOSAVE, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        # A server that shuts down closes the connection: an error here is the expected reply.
        with contextlib.suppress(redis.RedisError):
            self.client(socket_timeout=2, retry=Retry(NoBackoff(), 0)).shutdown(nosave=True)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
