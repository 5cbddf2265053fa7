"""On a terminal: readable console logs and a progress bar; in pipes: JSON lines only."""

from __future__ import annotations

import json
import os
import pty
import subprocess

from tests.conftest import CLI, clean_env
from tests.support.redis_server import RedisServer


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the pty closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_stderr_on_a_terminal_gets_console_logs_not_json(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.mset({f"k:{n}": "v" for n in range(5000)})
    controller, terminal = pty.openpty()
    env = clean_env({"COLUMNS": "120", "TERM": "xterm"})
    with subprocess.Popen(
        [CLI, "report", "--url", redis_server.url, "--format", "json", "--count", "100"],
        stdout=subprocess.PIPE,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
        env=env,
    ) as process:
        os.close(terminal)
        stdout, _ = process.communicate(timeout=60)
        stderr = read_all(controller).decode(errors="replace")
    os.close(controller)
    assert process.returncode == 0
    assert json.loads(stdout)["scanned_keys"] == 5000
    assert "scan.finished" in stderr
    assert not stderr.lstrip().startswith("{")
    assert "scanning redis://" in stderr
