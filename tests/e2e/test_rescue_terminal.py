"""``rescue`` on a terminal asks before it changes an instance; "no" changes nothing."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, clean_env
from tests.support.forkfail import MISCONF_CONFIG, FaultyRedisFactory
from tests.support.incident import (
    FREEING_LOWERS_RSS,
    dumps,
    plant_incident,
    save_settings,
    write_config,
)


def rescue_on_a_terminal(url: str, config: Path, answer: bytes) -> subprocess.CompletedProcess[str]:
    """Run ``rescue`` with a pty as stdin, type ``answer`` and wait for it to finish."""
    command = [CLI, "rescue", "--config", str(config), "--url", url]
    controller, terminal = pty.openpty()
    try:
        with subprocess.Popen(
            [*command, "--match", "stale:*", "--action", "delete"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env({"TERM": "dumb"}),
        ) as process:
            os.close(terminal)
            os.write(controller, answer + b"\n")
            stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    ("answer", "exit_code"), [(b"n", 2), pytest.param(b"y", 0, marks=FREEING_LOWERS_RSS)]
)
def test_rescue_asks_on_a_terminal(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path, answer: bytes, exit_code: int
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, _ = plant_incident(faulty)

    done = rescue_on_a_terminal(faulty.server.url, write_config(tmp_path), answer)

    assert done.returncode == exit_code, done.stderr
    assert f"rescue {faulty.server.url}: lift the write block" in done.stderr
    assert save_settings(client) == ("yes", "3600 1")
    if answer == b"n":
        assert "aborted" in done.stderr
        assert dumps(client, list(stale)) == stale
        assert not (tmp_path / "state").exists()
    else:
        assert "rescued — BGSAVE ok" in done.stdout
        assert client.set("probe", "1")
