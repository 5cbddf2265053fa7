"""The command line's output contract: one JSON error document, 80 columns, pipes, wording."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, CliResult, clean_env
from tests.support.forkfail import MISCONF_CONFIG, FaultyRedisFactory
from tests.support.incident import ARCHIVE_STALE, plant_incident, write_config
from tests.support.redis_server import RedisServer, free_port
from tests.support.terminal import run_on_terminal

Run = Callable[..., CliResult]


def error_document(result: CliResult, code: str, exit_code: int) -> dict[str, object]:
    """stdout is exactly one JSON error document with this code and exit code."""
    assert result.exit_code == exit_code, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["exit_code"] == exit_code
    assert document["error"]["code"] == code
    assert document["error"]["message"]
    return dict(document["error"])


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--top", "-1", "--format", "json"),
        ("report", "--format=json", "--no-such-flag"),
        ("--format", "json", "report"),  # --format before the command: click cannot parse it
        ("report", "--format", "json", "--db", "-1"),
        ("run", "--format", "json", "--match", "x", "--action", "expire", "--expire-in", "0"),
    ],
)
def test_usage_errors_under_json_print_one_error_document(run_cli: Run, args: tuple[str]) -> None:
    error = error_document(run_cli(*args), "usage", 64)
    assert "Traceback" not in str(error)


def test_every_failure_class_under_json_is_a_document(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    down = f"redis://127.0.0.1:{free_port()}"
    error_document(run_cli("headroom", "--url", down, "--format", "json"), "unavailable", 69)
    bad_env = run_cli("report", "--format", "json", env={"JANITOR_SCAN__CUONT": "5"})
    assert "JANITOR_SCAN__CUONT" in error_document(bad_env, "config", 78)["message"]
    no_tty = run_cli("run", "--url", redis_server.url, "--format", "json")
    assert "--yes" in str(error_document(no_tty, "usage", 64)["message"])


def test_expire_in_zero_is_a_usage_error_about_the_flag(
    redis_server: RedisServer, run_cli: Run
) -> None:
    result = run_cli(
        "run", "--url", redis_server.url, "--dry-run",
        "--match", "*", "--action", "expire", "--expire-in", "0",
    )  # fmt: skip
    assert result.exit_code == 64
    assert "--expire-in: must be more than 0" in result.stderr
    assert "policy.rules" not in result.stderr


@pytest.mark.parametrize("command", ["report", "run"])
def test_a_db_the_server_does_not_have_is_refused(
    redis_server: RedisServer, run_cli: Run, command: str
) -> None:
    extra = ("--dry-run", "--match", "*", "--action", "delete") if command == "run" else ()
    result = run_cli(command, "--url", redis_server.url, "--db", "99", *extra)
    assert result.exit_code == 64, result.stderr
    assert "--db 99" in result.stderr and "has no database 99" in result.stderr
    negative = run_cli(command, "--url", redis_server.url, "--db", "-1", *extra)
    assert negative.exit_code == 64
    assert "--db" in negative.stderr


def test_config_check_without_a_file_says_it_uses_the_defaults(run_cli: Run) -> None:
    result = run_cli("config", "check")
    assert result.exit_code == 0
    assert "no configuration file" in result.stdout
    assert "using the defaults" in result.stdout
    document = run_cli("config", "check", "--format", "json").json()
    assert document["config_file"] is None


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_closed_stdout_ends_quietly_with_141(redis_server: RedisServer, fmt: str) -> None:
    redis_server.client().mset({f"k:{n}": "v" * 100 for n in range(2000)})
    process = subprocess.Popen(
        [CLI, "report", "--url", redis_server.url, "--format", fmt, "--top", "2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written: `| head -0`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr


def test_no_hard_wrap_when_stdout_is_not_a_terminal(
    redis_server: RedisServer, run_cli: Run
) -> None:
    long_key = "cache:" + "k" * 230
    redis_server.client().set(long_key, "v" * 5000)
    result = run_cli("report", "--url", redis_server.url)
    assert result.exit_code == 0, result.stderr
    assert any(long_key in line for line in result.stdout.splitlines())
    assert any(len(line) > 160 for line in result.stdout.splitlines())


@pytest.mark.parametrize("command", ["headroom", "report"])
def test_terminal_output_fits_80_columns_without_cutting_words(
    redis_server: RedisServer, command: str
) -> None:
    redis_server.client().set("cache:a-medium-length-key:name", "v" * 4000)
    code, screen = run_on_terminal(command, "--url", redis_server.url, "--log-level", "error")
    assert code == 0, screen
    lines = screen.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "…" not in screen
    assert redis_server.url in screen
    assert "verdict" in screen and "commit room" in screen
    if command == "report":
        assert "cache:a-medium-length-key:name" in screen


def test_a_rescue_dry_run_says_the_settings_would_be_put_back(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    plant_incident(faulty)
    result = run_cli(
        "rescue", "--config", str(write_config(tmp_path)), "--url", faulty.server.url,
        "--dry-run", *ARCHIVE_STALE,
    )  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert "dry run, nothing changed" in result.stdout
    assert "settings would be put back" in result.stdout
    assert "settings restored" not in result.stdout


def test_under_journald_a_failure_is_logged_once_at_error_priority(
    run_cli: Run, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    with journal.open("w") as stream:
        status = os.fstat(stream.fileno())
        completed = subprocess.run(
            [CLI, "headroom", "--url", f"redis://127.0.0.1:{free_port()}"],
            stdout=subprocess.PIPE,
            stderr=stream,
            stdin=subprocess.DEVNULL,
            env=clean_env({"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}),
            timeout=60,
        )
    assert completed.returncode == 69
    lines = journal.read_text().splitlines()
    mentions = [line for line in lines if "cannot reach Redis" in line]
    assert len(mentions) == 1, lines
    assert mentions[0].startswith("<3>")
