"""Passwords through the installed command: the documented ways work, the risky ones are
refused or warned about, and a missing or wrong password is told apart (exit 77)."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, RedisFactory
from tests.support.redis_server import RedisServer

Run = Callable[..., CliResult]
SECRET = "s3cr3t-Pa55"
RAW_HELLO = "HELLO must be called"


@pytest.fixture
def guarded(redis_factory: RedisFactory) -> RedisServer:
    return redis_factory({"requirepass": SECRET})


def password_file(tmp_path: Path, mode: int, text: str = SECRET) -> Path:
    path = tmp_path / "redis-password"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_password_file_flag_and_environment_work(
    guarded: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    from_file = run_cli(
        "headroom", "--url", guarded.url, "--password-file", str(password_file(tmp_path, 0o600))
    )
    assert from_file.exit_code in (0, 1), from_file.stderr
    from_env = run_cli("headroom", "--url", guarded.url, env={"JANITOR_REDIS__PASSWORD": SECRET})
    assert from_env.exit_code in (0, 1), from_env.stderr
    for result in (from_file, from_env):
        assert SECRET not in result.stdout + result.stderr
        assert "visible to other users" not in result.stderr


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604])
def test_a_password_file_others_may_read_is_refused(
    guarded: RedisServer, run_cli: Run, tmp_path: Path, mode: int
) -> None:
    path = password_file(tmp_path, mode)
    result = run_cli("report", "--url", guarded.url, "--password-file", str(path))
    assert result.exit_code == 78
    assert f"has mode {mode:04o}" in result.stderr
    assert f"chmod 600 {path}" in result.stderr


def test_a_password_in_the_url_works_but_warns_once(guarded: RedisServer, run_cli: Run) -> None:
    url = guarded.url.replace("redis://", f"redis://:{SECRET}@")
    result = run_cli("report", "--url", url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    warnings = [
        json.loads(line)
        for line in result.stderr.splitlines()
        if '"password.in_command_line"' in line
    ]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"
    assert "visible to other users" in warnings[0]["message"]
    assert "--password-file" in warnings[0]["hint"]
    assert SECRET not in result.stdout + result.stderr


def test_password_required_and_wrong_password_are_told_apart(
    guarded: RedisServer, run_cli: Run
) -> None:
    missing = run_cli("report", "--url", guarded.url)
    wrong = run_cli("report", "--url", guarded.url, env={"JANITOR_REDIS__PASSWORD": "not-it"})
    assert (missing.exit_code, wrong.exit_code) == (77, 77)
    assert "requires a password and none was given" in missing.stderr
    assert "--password-file" in missing.stderr and "JANITOR_REDIS__PASSWORD" in missing.stderr
    assert "rejected the credentials: wrong password" in wrong.stderr
    assert "requires a password" not in wrong.stderr
    for result in (missing, wrong):
        assert RAW_HELLO not in result.stderr
        assert "Traceback" not in result.stderr
    as_json = run_cli("headroom", "--url", guarded.url, "--format", "json")
    document = as_json.json()
    assert (document["exit_code"], document["error"]["code"]) == (77, "no_permission")
    assert "hint" in document["error"] and document["error"]["hint"]


def test_the_suite_keeps_lock_files_out_of_the_real_home(
    redis_server: RedisServer, run_cli: Run, isolated_home: Path
) -> None:
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert Path(os.environ["HOME"]) == isolated_home != real_home
    result = run_cli("run", "--url", redis_server.url, "--yes")
    assert result.exit_code == 0, result.stderr
    state_home = Path(os.environ["XDG_STATE_HOME"])  # per test (tests/conftest.py)
    assert not state_home.is_relative_to(real_home)
    locks = state_home / "redis-janitor" / "locks"
    assert any(path.name.startswith(f"127.0.0.1_{redis_server.port}-") for path in locks.iterdir())
