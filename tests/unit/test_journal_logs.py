"""Under journald (``$JOURNAL_STREAM`` names stderr) each JSON line starts with its priority."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from janitor.core.logs import configure_logging, get_logger


def log_three_levels(path: Path) -> list[str]:
    with path.open("w") as stream:
        configure_logging("debug", "json", stream=stream)
        log = get_logger("janitor.test")
        log.debug("probe.debug")
        log.info("probe.info")
        log.warning("probe.warning")
        log.error("probe.error")
    configure_logging()
    return path.read_text().splitlines()


def test_priority_prefix_when_stderr_is_the_journal_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal"
    path.touch()
    status = os.stat(path)
    monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")

    lines = log_three_levels(path)

    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>"]
    assert json.loads(lines[2][3:])["event"] == "probe.warning"


def test_no_prefix_when_the_journal_stream_is_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    lines = log_three_levels(tmp_path / "plain")
    assert all(line.startswith("{") for line in lines)
