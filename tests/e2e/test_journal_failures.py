"""Under journald every failure of the installed command is one entry at warning or worse."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, clean_env

pytestmark = pytest.mark.e2e


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_under_journald(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """Run the command with stderr on a file that $JOURNAL_STREAM names; return its lines."""
    stream = tmp_path / "journal-stream"
    with stream.open("wb") as stderr:
        status = os.fstat(stderr.fileno())
        extra = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}", **(env or {})}
        completed = subprocess.run(
            [CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            env=clean_env(extra), timeout=60, cwd=tmp_path,
        )  # fmt: skip
    return completed.returncode, stream.read_text().splitlines()


def important(lines: list[str]) -> list[str]:
    return [line for line in lines if line[:3] in ("<0>", "<1>", "<2>", "<3>", "<4>")]


def test_unreachable_redis_in_run_is_one_error_entry(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{closed_port()}"
    code, lines = run_under_journald(
        tmp_path, "run", "--yes", "--url", url,
        env={"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
             "JANITOR_RESCUE__STATE_DIR": str(tmp_path / "rescue")},
    )  # fmt: skip
    assert code == 69
    assert len(important(lines)) == 1, lines
    assert all(line.startswith("<") for line in lines)  # nothing left at the default priority


def test_bad_configuration_is_one_error_line(tmp_path: Path) -> None:
    code, lines = run_under_journald(tmp_path, "headroom", env={"JANITOR_SCAN__COUNT": "many"})
    assert code == 78
    assert len(lines) == 1 and lines[0].startswith("<3>redis-janitor: invalid configuration")
    assert "scan.count" in lines[0]
