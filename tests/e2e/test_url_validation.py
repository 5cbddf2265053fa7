"""Every malformed URL stops every command up front (exit 78, ``field: reason``, password masked);
a DB in the URL is honoured by run and restore."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
Run = Callable[..., CliResult]
DAY = 86400
SECRET = "s3cr3t-pw"
BAD_URLS = {
    f"redis://:{SECRET}@127.0.0.1:6379/abc": "the DB (path) must be a whole number, not 'abc'",
    "redis://127.0.0.1:6379?db=x": "the DB (db=) must be a whole number",
    "redis://127.0.0.1:6379/-1": "must be a whole number, not '-1'",
    "redis://127.0.0.1:6379/99999999999": "the DB 99999999999 is out of range",
    f"redis://u:{SECRET}@127.0.0.1:70000": "the port must be a number between 1 and 65535",
    "redis://127.0.0.1:port": "the port must be a number between 1 and 65535",
    "redis://127.0.0.1:0": "the port must be between 1 and 65535",
    f"redis://:{SECRET}@[::1:6379": "broken IPv6 literal",
    "http://127.0.0.1:6379": "unknown scheme 'http'",
    "redis://": "the host is missing",
    "unix://": "needs a socket path",
}


CASES = [("report", url) for url in BAD_URLS] + [
    (command, f"redis://:{SECRET}@127.0.0.1:6379/abc") for command in ("run", "headroom", "restore")
]


@pytest.mark.parametrize(("command", "url"), CASES)
def test_a_malformed_url_exits_78_naming_it_with_the_password_masked(
    run_cli: Run, tmp_path: Path, url: str, command: str
) -> None:
    args = [command, "--url", url]
    if command == "run":
        args += ["--dry-run"]
    if command == "restore":
        args += ["--yes", str(tmp_path)]
    result = run_cli(*args)
    assert result.exit_code == 78, result.stderr
    assert "redis.urls:" in result.stderr
    assert BAD_URLS[url] in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    if SECRET in url:
        assert ":***@" in result.stderr


def test_a_db_the_server_does_not_have_exits_78(redis_server: RedisServer, run_cli: Run) -> None:
    result = run_cli("report", "--url", f"{redis_server.url}/99")
    assert result.exit_code == 78, result.stderr
    assert "out of range on this server" in result.stderr


def test_run_acts_only_on_the_db_in_the_url(redis_server: RedisServer, run_cli: Run) -> None:
    for db in (0, 3):
        plant(redis_server.client(db), b"cache:old", size=1000, idle_seconds=40 * DAY)
    args = ["--match", "cache:*", "--min-idle", "30d", "--action", "delete", "--yes"]
    result = run_cli("run", "--url", f"{redis_server.url}/3", *args)
    assert result.exit_code in (0, 1), result.stderr
    assert redis_server.client(3).exists(b"cache:old") == 0
    assert redis_server.client(0).exists(b"cache:old") == 1


def test_restore_puts_keys_into_the_db_in_the_url_or_refuses_a_mix(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    plant(redis_server.client(1), b"one", size=500, idle_seconds=40 * DAY)
    plant(redis_server.client(2), b"two", size=500, idle_seconds=40 * DAY)
    args = ["--min-idle", "30d", "--action", "archive", "--archive-dir", str(archive), "--yes"]
    assert run_cli("run", "--url", redis_server.url, "--match", "*", *args).exit_code in (0, 1)
    mixed = run_cli("restore", "--url", f"{redis_server.url}/5", "--yes", str(archive))
    assert mixed.exit_code == 64
    assert "DBs 1, 2" in mixed.stderr
    assert redis_server.client(5).dbsize() == 0
    one_db = run_cli(
        "restore", "--url", f"{redis_server.url}/5", "--match", "one", "--yes", str(archive)
    )
    assert one_db.exit_code == 0, one_db.stderr
    assert redis_server.client(5).exists(b"one") == 1
    assert redis_server.client(1).exists(b"one") == 0
    plain = run_cli("restore", "--url", redis_server.url, "--match", "two", "--yes", str(archive))
    assert plain.exit_code == 0
    assert redis_server.client(2).exists(b"two") == 1
