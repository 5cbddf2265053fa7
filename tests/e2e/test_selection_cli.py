"""Globs that add up (``--match`` / ``--exclude`` repeated), caps said out loud, the prompt's
preview, and per-key failures at warning level — through the installed command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult, RedisFactory
from tests.support.redis_server import RedisServer
from tests.support.terminal import run_on_terminal

Run = Callable[..., CliResult]


def keys_in(document: dict[str, object]) -> set[str]:
    return {str(entry["key"]) for entry in document["top_keys"]}  # type: ignore[attr-defined]


def test_report_match_and_exclude_repeat_and_add_up(
    redis_server: RedisServer, run_cli: Run
) -> None:
    redis_server.client().mset({f"{p}:{n}": "v" * 100 for p in "abc" for n in range(3)})
    one = run_cli("report", "--url", redis_server.url, "--format", "json", "--match", "a:*")
    assert keys_in(one.json()) == {"a:0", "a:1", "a:2"}
    both = run_cli(
        "report", "--url", redis_server.url, "--format", "json",
        "--match", "a:*", "--match", "b:*", "--exclude", "b:1", "--exclude", "a:2",
    )  # fmt: skip
    assert both.exit_code == 0, both.stderr
    assert keys_in(both.json()) == {"a:0", "a:1", "b:0", "b:2"}
    assert both.json()["scanned_keys"] == 4


def archive_all(run_cli: Run, url: str, archive_dir: Path, *flags: str) -> CliResult:
    result = run_cli(
        "run", "--url", url, "--yes", "--format", "json", "--match", "*",
        "--action", "archive", "--archive-dir", str(archive_dir), *flags,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return result


def test_restore_of_two_patterns_brings_back_both(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    client = redis_server.client()
    client.mset({"a:1": "1", "b:1": "2", "c:1": "3", "a:keep": "4"})
    archive_dir = tmp_path / "archive"
    archive_all(run_cli, redis_server.url, archive_dir)
    assert client.dbsize() == 0

    dry = run_cli(
        "restore", str(archive_dir), "--url", redis_server.url, "--dry-run",
        "--match", "a:*", "--match", "b:*", "--exclude", "a:keep",
    )  # fmt: skip
    assert dry.exit_code == 0, dry.stderr
    assert "would restore 2" in dry.stdout
    assert "restored 2" not in dry.stdout
    assert client.dbsize() == 0

    done = run_cli(
        "restore", str(archive_dir), "--url", redis_server.url, "--yes", "--format", "json",
        "--match", "a:*", "--match", "b:*", "--exclude", "a:keep",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert done.json()["restored"] == 2
    assert sorted(client.keys()) == [b"a:1", b"b:1"]


def test_run_exclude_vetoes_the_adhoc_rule(redis_server: RedisServer, run_cli: Run) -> None:
    client = redis_server.client()
    client.mset({"t:1": "1", "t:2": "2", "t:keep": "3"})
    result = run_cli(
        "run", "--url", redis_server.url, "--yes", "--match", "t:*", "--exclude", "*keep",
        "--action", "delete",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert client.keys() == [b"t:keep"]


def test_caps_are_stated_in_the_summary_and_the_json(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    redis_server.client().mset({f"big:{n}": "v" * 1000 for n in range(30)})
    config = tmp_path / "janitor.toml"
    config.write_text("[policy]\nmax_keys = 5\nactions_per_second = 2\n")
    args = ("run", "--config", str(config), "--url", redis_server.url, "--dry-run")
    text = run_cli(*args, "--match", "big:*", "--action", "delete")
    assert text.exit_code == 0, text.stderr
    assert "acting on 5 of 30 matching keys: policy.max_keys; ~2s at 2 actions/s" in text.stdout
    plan = run_cli(*args, "--match", "big:*", "--action", "delete", "--format", "json")
    summary = plan.json()["instances"][0]["plan"]
    assert summary["left_out"] == {"max_keys": 25, "max_bytes": 0, "max_candidates": 0}
    assert (summary["matching_keys"], summary["estimated_seconds"]) == (30, 2.5)


def test_the_prompt_previews_largest_keys_rule_totals_and_caps(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    client.mset({f"big:{n:02}": "v" * (1000 * (n + 1)) for n in range(30)})
    config = tmp_path / "janitor.toml"
    config.write_text("[policy]\nmax_keys = 20\n")
    code, screen = run_on_terminal(
        "run", "--config", str(config), "--url", redis_server.url, "--log-level", "error",
        "--match", "big:*", "--action", "delete", answer=b"n",
    )  # fmt: skip
    assert code == 2, screen
    assert "Largest planned keys (10 of 20)" in screen
    assert "big:29" in screen  # the largest key
    assert "Per rule" in screen and "command-line" in screen
    assert "acting on 20 of 30 matching keys: policy.max_keys" in screen
    assert "20 actions on" in screen and "go ahead?" in screen
    typed_ahead = [line for line in screen.splitlines() if "go ahead?" not in line]
    assert all(len(line) <= 80 for line in typed_ahead)  # the answer was typed before the prompt
    assert client.dbsize() == 30


def log_events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_restore_failures_are_logged_per_key_at_warning(
    redis_factory: RedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    primary, full = redis_factory(), redis_factory()
    primary.client().mset({"r:1": "1", "r:2": "2"})
    archive_dir = tmp_path / "archive"
    archive_all(run_cli, primary.url, archive_dir)
    # A target out of memory refuses every RESTORE (-OOM), key by key. (A replica no longer
    # fails: restore goes through the replica's primary.)
    full.client().config_set("maxmemory-policy", "noeviction")
    full.client().config_set("maxmemory", "1")

    result = run_cli("restore", str(archive_dir), "--url", full.url, "--yes")

    assert result.exit_code == 2
    failed = [e for e in log_events(result.stderr) if e["event"] == "key.restore_failed"]
    assert sorted(str(e["key"]) for e in failed) == ["r:1", "r:2"]
    assert {e["level"] for e in failed} == {"warning"}
    assert "failed 2" in result.stdout
