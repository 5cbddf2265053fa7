"""Each command as a Redis ACL user with exactly the rules README gives for it: it works, and
without any one of them it fails with exit 77 naming the missing command."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.conftest import CliResult
from tests.support.forkfail import MISCONF_CONFIG, FaultyRedisFactory
from tests.support.incident import ARCHIVE_STALE, plant_incident, write_config
from tests.support.redis_server import RedisServer
from tests.support.server_build import ServerBuild, requires, requires_jemalloc

Run = Callable[..., CliResult]
README = Path(__file__).parents[2] / "README.md"
PASSWORD = "acl-test-secret"
AS_JANITOR = {"JANITOR_REDIS__USERNAME": "janitor", "JANITOR_REDIS__PASSWORD": PASSWORD}
LFU_ONLY, LRU_ONLY = "+object|freq", "+object|idletime"


def documented_rules() -> dict[str, list[str]]:
    """``# command`` followed by ``ACL SETUSER janitor reset on >PASSWORD ~* RULES`` in README."""
    found = re.findall(
        r"^# (\w+)\nACL SETUSER janitor reset on >PASSWORD ~\* (.+)$", README.read_text(), re.M
    )
    return {command: rules.split() for command, rules in found}


RULES = documented_rules()
SUBCOMMAND_REFUSALS = requires(7, 0, "an ACL refusal naming the subcommand (6.2 names 'client')")
NO_TOUCH = "+client|no-touch"
"""README: added to run's and rescue's rules on Redis/Valkey >= 7.2 (the archive's DUMP uses it)."""


def rules_for(command: str, build: ServerBuild) -> list[str]:
    """README's rules of ``command`` for this server (``+client|no-touch`` from 7.2)."""
    extra = [NO_TOUCH] if command in ("run", "rescue") and build.at_least(7, 2) else []
    return RULES[command] + extra


def set_user(client: redis.Redis, rules: list[str]) -> None:
    client.execute_command("ACL", "SETUSER", "janitor", "reset", "on", f">{PASSWORD}", "~*", *rules)


def plant_keys(client: redis.Redis) -> None:
    client.mset({f"old:{n}": "v" * 2000 for n in range(5)})
    client.execute_command("SELECT", 3)  # the admin connection is not pooled per DB: switch back
    client.set("other:db", "x", ex=86400)  # a TTL: the scan sends PTTL where keys expire
    client.execute_command("SELECT", 0)


def command_line(command: str, url: str, tmp_path: Path) -> list[str]:
    """How each command is run (``run`` archives, so every action rule is used)."""
    archive = ["--archive-dir", str(tmp_path / "archive")]
    return {
        "headroom": ["headroom", "--url", url],
        "report": ["report", "--url", url],
        "run": ["run", "--url", url, "--yes", "--match", "o*", "--action", "archive", *archive],
        "restore": ["restore", str(tmp_path / "archive"), "--url", url, "--yes"],
    }[command]


SEEN_BEFORE = {"run": {*RULES["report"], "+unwatch"}}
"""Rules not taken away again for ``run``: report's are checked with report (run scans alike);
UNWATCH is only sent when a key changed between judgment and action."""


def test_readme_documents_every_command() -> None:
    assert set(RULES) == {"headroom", "report", "run", "rescue", "restore"}


@SUBCOMMAND_REFUSALS
@pytest.mark.parametrize("command", ["headroom", "report", "run", "restore"])
def test_each_command_works_with_exactly_its_rules_and_fails_clearly_without_any(
    redis_server: RedisServer,
    run_cli: Run,
    tmp_path: Path,
    command: str,
    redis_build: ServerBuild,
) -> None:
    admin = redis_server.client()
    rules = [rule for rule in rules_for(command, redis_build) if rule != LFU_ONLY]  # LRU here
    checked = [rule for rule in rules if rule not in SEEN_BEFORE.get(command, ())]
    for missing in [None, *checked]:
        admin.flushall()
        plant_keys(admin)
        if command == "restore":
            made = run_cli(*command_line("run", redis_server.url, tmp_path))
            assert made.exit_code == 0, made.stderr
        set_user(admin, [rule for rule in rules if rule != missing])
        result = run_cli(*command_line(command, redis_server.url, tmp_path), env=AS_JANITOR)
        if missing is None:
            assert result.exit_code == 0, result.stdout + result.stderr
            continue
        assert result.exit_code == 77, f"without {missing}: {result.stdout}{result.stderr}"
        assert f"'{missing[1:]}'" in result.stderr, f"without {missing}: {result.stderr}"
        assert f"ACL SETUSER <user> {missing}" in result.stderr


def test_report_on_an_lfu_instance_needs_object_freq(
    redis_server: RedisServer, run_cli: Run
) -> None:
    admin = redis_server.client()
    admin.config_set("maxmemory-policy", "allkeys-lfu")
    plant_keys(admin)
    rules = [rule for rule in RULES["report"] if rule != LRU_ONLY]
    set_user(admin, rules)
    assert run_cli("report", "--url", redis_server.url, env=AS_JANITOR).exit_code == 0
    set_user(admin, [rule for rule in rules if rule != LFU_ONLY])
    refused = run_cli("report", "--url", redis_server.url, env=AS_JANITOR)
    assert refused.exit_code == 77
    assert "'object|freq'" in refused.stderr


RESCUE_ONLY = sorted(set(RULES["rescue"]) - set(RULES["run"]))


@SUBCOMMAND_REFUSALS
@requires_jemalloc("the fork-failure library's RSS limit (freed memory must leave RSS)")
@pytest.mark.parametrize("missing", [None, *RESCUE_ONLY])
def test_rescue_works_with_exactly_its_rules_and_fails_clearly_without_its_own(
    faulty_redis_factory: FaultyRedisFactory,
    run_cli: Run,
    tmp_path: Path,
    missing: str | None,
    redis_build: ServerBuild,
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = plant_incident(faulty)
    rules = [r for r in rules_for("rescue", redis_build) if r not in (LFU_ONLY, missing)]
    set_user(client, rules)
    result = run_cli(
        "rescue", "--config", str(write_config(tmp_path)), "--url", faulty.server.url, "--yes",
        *ARCHIVE_STALE, "--archive-dir", str(tmp_path / "archive"), env=AS_JANITOR,
    )  # fmt: skip
    if missing is None:
        assert result.exit_code == 0, result.stdout + result.stderr
        assert "rescued — BGSAVE ok" in result.stdout
        return
    assert result.exit_code == 77, f"without {missing}: {result.stdout}{result.stderr}"
    assert missing[1:] in result.stdout + result.stderr
