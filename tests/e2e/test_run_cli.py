"""``redis-janitor run`` and ``restore`` end to end: the installed command against real servers."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CLI, CliResult, clean_env
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

Run = Callable[..., CliResult]
DAY = 86400
ACTION_FIELDS = {"db", "key", "key_base64", "action", "bytes", "result", "reason"}


def plant_stale(server: RedisServer) -> dict[bytes, bytes]:
    client = server.client()
    payloads = {
        b"cache:\xff big\n": plant(
            client, b"cache:\xff big\n", size=2_000_000, idle_seconds=40 * DAY
        ),
        b"cache:small": plant(client, b"cache:small", size=100, idle_seconds=40 * DAY),
        b"cache:fresh": plant(client, b"cache:fresh", size=50_000),
    }
    plant(client, b"report:old", kind="hash", size=20_000, idle_seconds=60 * DAY)
    return payloads


def test_run_without_a_terminal_needs_yes(redis_server: RedisServer, run_cli: Run) -> None:
    plant_stale(redis_server)
    result = run_cli("run", "--url", redis_server.url, "--match", "*", "--action", "delete")
    assert result.exit_code == 64
    assert "--yes" in result.stderr
    assert redis_server.client().dbsize() == 4


def test_bad_ad_hoc_flags_are_usage_errors(redis_server: RedisServer, run_cli: Run) -> None:
    url = redis_server.url
    assert run_cli("run", "--url", url, "--action", "delete", "--yes").exit_code == 64
    assert run_cli("run", "--url", url, "--match", "*", "--yes").exit_code == 64
    bad_size = run_cli(
        "run", "--url", url, "--match", "*", "--min-size", "lots", "--action", "delete", "--yes"
    )
    assert bad_size.exit_code == 64
    assert "--min-size" in bad_size.stderr
    no_ttl = run_cli("run", "--url", url, "--match", "*", "--action", "expire", "--yes")
    assert no_ttl.exit_code == 64
    assert redis_server.client().dbsize() == 0


def test_manual_cleanup_with_ad_hoc_flags(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    plant_stale(redis_server)
    archive_dir = tmp_path / "archive"
    result = run_cli(
        "run", "--url", redis_server.url, "--yes", "--format", "json",
        "--match", "cache:*", "--min-size", "10KiB", "--min-idle", "30d",
        "--action", "archive", "--archive-dir", str(archive_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["schema_version"] == 1
    assert set(document) >= {"before", "after", "actions", "freed_bytes"}
    (action,) = document["actions"]
    assert set(action) >= ACTION_FIELDS
    assert base64.b64decode(action["key_base64"]) == b"cache:\xff big\n"
    assert action["key"] == "cache:\\xff big\\n"
    assert (action["action"], action["result"]) == ("archive", "done")
    assert document["freed_bytes"] > 1_000_000
    client = redis_server.client()
    assert client.exists(b"cache:\xff big\n") == 0
    assert client.exists(b"cache:small", b"cache:fresh", b"report:old") == 3
    assert stat.S_IMODE(archive_dir.stat().st_mode) == 0o700
    (archive_file,) = archive_dir.iterdir()
    assert stat.S_IMODE(archive_file.stat().st_mode) == 0o600
    assert '"event": "key.archived"' in result.stderr


def test_run_measures_fork_headroom_before_and_after_with_the_model(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    plant_stale(redis_server)
    result = run_cli(
        "run", "--url", redis_server.url, "--yes", "--format", "json",
        "--match", "cache:*", "--min-size", "10KiB", "--action", "delete",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = result.json()
    pid = redis_server.client().info("server")["process_id"]
    for phase in ("before", "after"):
        section = document[phase]
        assert section["verdict"] == "ok"
        assert section["host"]["overcommit_memory"] in (0, 1, 2)
        assert section["host"]["commit_limit_bytes"] > 0
        (instance,) = section["instances"]
        assert instance["pid"] == pid
        assert instance["local"] is True
        assert instance["estimated"] is False
        assert instance["fork_charge_bytes"] > 0
    before_rss = document["before"]["instances"][0]["rss_bytes"]
    prediction = document["instances"][0]["prediction"]
    assert prediction["freed_bytes"] > 1_000_000
    assert prediction["rss_bytes"] == max(0, before_rss - prediction["freed_bytes"])


def test_dry_run_changes_nothing_and_resets_no_idle_time(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    plant_stale(redis_server)
    client = redis_server.client()
    keys = sorted(client.scan_iter())
    idle_before = {key: client.object("idletime", key) for key in keys}
    result = run_cli(
        "run", "--url", redis_server.url, "--dry-run", "--format", "json",
        "--match", "*", "--action", "archive", "--archive-dir", str(tmp_path / "archive"),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert {entry["result"] for entry in result.json()["actions"]} == {"planned"}
    assert len(result.json()["actions"]) == 4
    assert sorted(client.scan_iter()) == keys
    assert all(client.object("idletime", key) >= idle_before[key] for key in keys)
    assert not (tmp_path / "archive").exists()
    text = run_cli(
        "run", "--url", redis_server.url, "--dry-run", "--match", "*", "--action", "delete"
    )
    assert text.exit_code == 0
    assert "dry run" in text.stdout


def test_configured_run_then_restore(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    payloads = plant_stale(redis_server)
    archive_dir = tmp_path / "archive"
    config = tmp_path / "janitor.toml"
    config.write_text(
        f"""
[redis]
urls = ["{redis_server.url}"]

[policy]
goal = "all"
settle_timeout = "5s"

[[policy.rules]]
name = "keep-fresh"
match = ["cache:fresh"]
action = "keep"

[[policy.rules]]
name = "archive-stale"
match = ["cache:*"]
min_idle = "30d"
action = "archive"

[[policy.rules]]
name = "expire-reports"
match = ["report:*"]
action = "expire"
expire_in = "2h"

[archive]
dir = "{archive_dir}"
"""
    )
    result = run_cli("run", "--config", str(config), "--yes", "--format", "json")
    assert result.exit_code == 0, result.stderr
    by_key = {base64.b64decode(a["key_base64"]): a for a in result.json()["actions"]}
    assert set(by_key) == {b"cache:\xff big\n", b"cache:small", b"report:old"}
    assert by_key[b"report:old"]["action"] == "expire"
    client = redis_server.client()
    assert 0 < client.pttl(b"report:old") <= 2 * 3600 * 1000
    assert client.exists(b"cache:\xff big\n", b"cache:small") == 0

    restored = run_cli(
        "restore", str(archive_dir), "--url", redis_server.url, "--yes", "--format", "json"
    )
    assert restored.exit_code == 0, restored.stderr
    assert (restored.json()["restored"], restored.json()["skipped"]) == (2, 0)
    for key in (b"cache:\xff big\n", b"cache:small"):
        assert client.dump(key) == payloads[key]
    twice = run_cli("restore", str(archive_dir), "--url", redis_server.url, "--yes")
    assert twice.exit_code == 0, twice.stderr
    assert "restored 0, skipped 2, failed 0" in twice.stdout
    no_yes = run_cli("restore", str(archive_dir), "--url", redis_server.url)
    assert no_yes.exit_code == 64


def test_an_archive_dir_others_can_read_stops_the_run(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    plant_stale(redis_server)
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o755)
    result = run_cli(
        "run", "--url", redis_server.url, "--yes",
        "--match", "*", "--action", "archive", "--archive-dir", str(loose),
    )  # fmt: skip
    assert result.exit_code == 78
    assert "chmod 700" in result.stderr
    assert redis_server.client().dbsize() == 4


def run_on_a_terminal(args: list[str], answer: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI with a pseudo-terminal on stdin and type ``answer`` at the prompt."""
    controller, terminal = os.openpty()
    try:
        os.write(controller, answer)
        return subprocess.run(
            [CLI, *args], stdin=terminal, capture_output=True, env=clean_env(), timeout=60
        )
    finally:
        os.close(controller)
        os.close(terminal)


def test_on_a_terminal_run_asks_and_a_no_changes_nothing(redis_server: RedisServer) -> None:
    plant_stale(redis_server)
    args = ["run", "--url", redis_server.url, "--match", "cache:*", "--action", "delete"]
    declined = run_on_a_terminal(args, b"n\n")
    assert b"go ahead?" in declined.stderr
    assert declined.returncode != 0
    assert redis_server.client().dbsize() == 4
    accepted = run_on_a_terminal(args, b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert redis_server.client().dbsize() == 1


def test_usage_error_before_settings_keeps_stdout_clean(run_cli: Run) -> None:
    result = run_cli("run", "--match", "x", "--format", "json")
    assert result.exit_code == 64
    assert "need --action" in result.stderr
    assert "command.failed" not in result.stdout + result.stderr  # a debug event stays silent
    assert json.loads(result.stdout)["error"]["exit_code"] == 64


def test_a_failure_after_acting_still_prints_what_was_done(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    plant_stale(redis_server)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the textfile's parent is a file: writing it fails after acting
    for fmt in ("json", "text"):
        plant_stale(redis_server)
        result = run_cli(
            "run", "--url", redis_server.url, "--yes", "--format", fmt,
            "--match", "cache:*", "--min-size", "10KiB", "--min-idle", "30d",
            "--action", "delete", "--metrics-textfile", str(blocker / "janitor.prom"),
        )  # fmt: skip
        assert result.exit_code == 2, result.stderr
        assert "internal error" not in result.stderr
        assert "metrics textfile" in result.stderr
        if fmt == "json":
            document = result.json()
            (action,) = document["actions"]
            assert (action["action"], action["result"]) == ("delete", "done")
            (error,) = document["errors"]
            assert error["instance"] == "metrics"
            assert "could not be written" in error["message"]
        else:
            assert "cache:\\xff big\\n" in result.stdout
    assert redis_server.client().exists(b"cache:\xff big\n") == 0


def test_serve_once_with_an_unwritable_textfile_logs_what_it_did(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    plant_stale(redis_server)
    config = tmp_path / "janitor.toml"
    config.write_text(
        "[policy]\ngoal = 'all'\n[[policy.rules]]\nname = 'stale'\nmatch = ['cache:*']\n"
        "min_size = '10KiB'\nmin_idle = '30d'\naction = 'delete'\n"
    )
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = run_cli(
        "serve", "--once", "--config", str(config), "--url", redis_server.url,
        "--metrics-textfile", str(blocker / "janitor.prom"),
    )  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert "internal error" not in result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    names = [event["event"] for event in events]
    assert "key.deleted" in names
    assert "metrics.write_failed" in names
    assert redis_server.client().exists(b"cache:\xff big\n") == 0
