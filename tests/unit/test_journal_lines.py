"""Plain-text failure lines: a journald priority under journald, and each failure told once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from janitor.cli.journal_lines import failure_noted, instance_failed, write_failure
from janitor.cli.output import print_error
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.logs import configure_logging


def error(
    code: ExitCode = ExitCode.UNAVAILABLE, hint: str | None = "is it running?"
) -> JanitorError:
    failure = JanitorError("cannot reach redis://127.0.0.1:1", hint=hint)
    failure.exit_code = code
    return failure


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file that $JOURNAL_STREAM names, as systemd does for a unit's stderr."""
    path = tmp_path / "journal"
    path.touch()
    status = os.stat(path)
    monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
    return path


def test_error_line_gets_priority_3_once_with_its_hint_on_the_same_line(journal: Path) -> None:
    failure = error()
    with journal.open("w") as stream:
        write_failure(failure, stream)
        write_failure(failure, stream)  # re-raised to main: already told
    assert journal.read_text().splitlines() == [
        "<3>redis-janitor: cannot reach redis://127.0.0.1:1 (hint: is it running?)"
    ]


def test_held_lock_is_a_warning(journal: Path) -> None:
    with journal.open("w") as stream:
        write_failure(error(ExitCode.LOCKED, hint=None), stream)
    assert journal.read_text() == "<4>redis-janitor: cannot reach redis://127.0.0.1:1\n"


def test_instance_failure_under_journald_is_one_structured_event(journal: Path) -> None:
    failure = error()
    with journal.open("w") as stream:
        configure_logging("info", "json", stream=stream)
        instance_failed(failure, stream, instance="redis://127.0.0.1:1")
        write_failure(failure, stream)  # main sees the same error again
    configure_logging()
    lines = journal.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("<3>{")
    event = json.loads(lines[0][3:])
    assert event["event"] == "instance.failed"
    assert event["hint"] == "is it running?" and event["exit_code"] == 69


def test_a_logged_failure_under_journald_leaves_the_record_to_its_event(journal: Path) -> None:
    with journal.open("w") as stream:
        failure_noted(error(), stream)
    assert journal.read_text() == ""


def test_a_multi_line_message_is_one_journal_entry(journal: Path) -> None:
    failure = JanitorError(
        "invalid configuration:\n  redis.urls: empty\n  scan.count: not a number"
    )
    failure.exit_code = ExitCode.CONFIG
    with journal.open("w") as stream:
        write_failure(failure, stream)
    assert journal.read_text() == (
        "<3>redis-janitor: invalid configuration: redis.urls: empty; scan.count: not a number\n"
    )


def test_outside_the_journal_lines_are_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    print_error(error(), None)
    assert capsys.readouterr().err == (
        "redis-janitor: cannot reach redis://127.0.0.1:1\n  hint: is it running?\n"
    )
