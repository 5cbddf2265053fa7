"""Classifying a failed save from Redis log lines, and reading only the log's tail."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.app.rescue.diagnosis import (
    classify_log_lines,
    read_tail,
    resolve_log_path,
    summary_lines,
)

STARTUP = [
    "100:M 24 Nov 2026 04:00:00.000 * Ready to accept connections",
    "100:M 24 Nov 2026 04:00:01.000 * 1 changes in 3600 seconds. Saving...",
]
FORK_ENOMEM = (
    "100:M 24 Nov 2026 04:00:01.001 # Can't save in background: fork: Cannot allocate memory"
)
DISK_OPEN = (
    "200:C 24 Nov 2026 04:00:05.000 # Failed opening the temp RDB file temp-200.rdb "
    "(in server root dir /var/lib/redis) for saving: No such file or directory"
)
DISK_FULL = (
    "200:C 24 Nov 2026 04:00:05.000 # Write error saving DB on disk: No space left on device"
)
BG_STARTED = "100:M 24 Nov 2026 04:00:05.000 * Background saving started by pid 200"
BG_ERROR = "100:M 24 Nov 2026 04:00:05.100 # Background saving error"
BG_OK = "100:M 24 Nov 2026 04:00:09.000 * Background saving terminated with success"


def test_fork_enomem_is_recognised_from_its_exact_line() -> None:
    diagnosis = classify_log_lines([*STARTUP, FORK_ENOMEM], "/var/log/redis/redis.log")

    assert diagnosis.cause == "fork_enomem"
    assert diagnosis.evidence == [FORK_ENOMEM]
    assert diagnosis.memory_helps
    assert "rescue" in diagnosis.advice
    assert diagnosis.log_path == "/var/log/redis/redis.log"


@pytest.mark.parametrize("child_line", [DISK_OPEN, DISK_FULL])
def test_disk_errors_are_recognised_and_say_deleting_does_not_help(child_line: str) -> None:
    diagnosis = classify_log_lines([*STARTUP, BG_STARTED, child_line, BG_ERROR])

    assert diagnosis.cause == "disk"
    assert diagnosis.evidence[-1] == child_line
    assert not diagnosis.memory_helps
    assert "deletes nothing" in diagnosis.advice


def test_the_last_relevant_line_decides() -> None:
    assert classify_log_lines([DISK_OPEN, BG_ERROR, FORK_ENOMEM]).cause == "fork_enomem"
    assert classify_log_lines([FORK_ENOMEM, BG_STARTED, DISK_OPEN, BG_ERROR]).cause == "disk"


def test_a_later_success_is_not_blamed_on_an_old_failure() -> None:
    diagnosis = classify_log_lines([FORK_ENOMEM, BG_STARTED, BG_OK])

    assert diagnosis.cause == "unknown"
    assert "success" in diagnosis.message
    assert diagnosis.evidence[-1] == BG_OK


def test_no_relevant_line_is_unknown() -> None:
    diagnosis = classify_log_lines([*STARTUP[:1], BG_ERROR])

    assert diagnosis.cause == "unknown"
    assert diagnosis.evidence == []
    assert diagnosis.advice


def test_summary_says_what_is_wrong_and_what_to_do() -> None:
    lines = list(summary_lines(classify_log_lines([FORK_ENOMEM])))

    assert lines[0].startswith("cause: fork_enomem")
    assert lines[1] == f"  log: {FORK_ENOMEM}"
    assert lines[-1].startswith("what to do: ")


def test_log_path_is_resolved_against_the_server_dir() -> None:
    assert resolve_log_path("/var/log/redis.log", "/data") == Path("/var/log/redis.log")
    assert resolve_log_path("redis.log", "/data") == Path("/data/redis.log")
    assert resolve_log_path("redis.log", "") is None
    assert resolve_log_path("", "/data") is None


def test_read_tail_reads_only_the_end_and_drops_a_partial_first_line(tmp_path: Path) -> None:
    log = tmp_path / "redis.log"
    filler = "".join(f"{index:08d} * filler line\n" for index in range(100_000))
    log.write_text(filler + FORK_ENOMEM + "\n")

    lines = read_tail(log, 4096)

    assert lines[-1] == FORK_ENOMEM
    assert len("\n".join(lines)) <= 4096
    assert all(line.endswith("* filler line") for line in lines[:-1])


def test_read_tail_of_a_short_file_keeps_the_first_line(tmp_path: Path) -> None:
    log = tmp_path / "redis.log"
    log.write_text(f"{STARTUP[0]}\n{FORK_ENOMEM}\n")

    assert read_tail(log, 65536) == [STARTUP[0], FORK_ENOMEM]
