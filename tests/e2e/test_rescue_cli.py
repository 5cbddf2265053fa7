"""``redis-janitor rescue`` end to end: the installed command recovers the seed incident.

Each server runs with the fork-failure library (docs/domain.md §6): its fork() fails while its
VmRSS is above the limit the test sets, so only freeing keys (+ MEMORY PURGE) lets the BGSAVE
succeed.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from janitor.adapters.files.rescue_record import pending_restores
from tests.conftest import CLI, CliResult, clean_env
from tests.support.forkfail import MISCONF_CONFIG, FaultyRedisFactory, bgsave_finished
from tests.support.incident import (
    ARCHIVE_STALE,
    DAY,
    FREEING_LOWERS_RSS,
    STALE_KEYS,
    STALE_VALUE_BYTES,
    dumps,
    plant_incident,
    save_settings,
    write_config,
)
from tests.support.keys import plant

Run = Callable[..., CliResult]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "proc"


@FREEING_LOWERS_RSS
def test_rescue_recovers_the_seed_incident_and_loses_nothing(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, fresh = plant_incident(faulty)
    url = faulty.server.url
    archive_dir = tmp_path / "archive"
    config = write_config(tmp_path)

    result = run_cli(
        "rescue", "--config", str(config), "--url", url, "--yes", "--format", "json",
        *ARCHIVE_STALE, "--archive-dir", str(archive_dir),
    )  # fmt: skip

    print(result.stderr, *faulty.faults.trace(), sep="\n")  # pytest -s shows the transcript
    assert result.exit_code == 0, result.stdout + result.stderr
    document = result.json()
    assert document["kind"] == "rescue"
    assert document["misconf_before"] is True
    assert document["misconf_after"] is False
    assert document["bgsave_status"] == "ok"
    assert document["config_restored"] is True
    assert document["exit_code"] == 0
    assert set(document) >= {"before", "after", "actions", "freed_bytes", "pending_restores"}
    assert document["before"]["verdict"] == "critical"  # writes refused
    assert document["before"]["instances"][0]["persistence"]["writes_refused"] is True
    assert document["after"]["instances"][0]["persistence"]["writes_refused"] is False
    (instance,) = document["instances"]
    assert instance["diagnosis"]["cause"] == "fork_enomem"
    assert instance["rounds"] >= 2  # the first round was not enough: the limit needs more
    assert 0 < instance["removed_bytes"] == document["removed_bytes"]
    assert document["freed_bytes"] > STALE_VALUE_BYTES
    done = [a for a in document["actions"] if a["result"] == "done"]
    assert done and all(a["action"] == "archive" for a in done)
    assert len(done) < STALE_KEYS  # goal headroom: only as much as the fork needed
    assert {base64.b64decode(a["key_base64"]) for a in done} <= set(stale)
    verdicts = [line.split()[0] for line in faulty.faults.trace()]
    assert verdicts[-1] == "pass" and set(verdicts[:-1]) == {"fail"}
    assert save_settings(client) == ("yes", "3600 1")
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    assert client.set("probe", "1")
    assert dumps(client, list(fresh)) == fresh
    remaining = {key for key in stale if client.exists(key)}
    assert len(remaining) == STALE_KEYS - len(done)

    restored = run_cli(
        "restore", instance["freeing"]["archive_file"], "--url", url, "--yes", "--format", "json"
    )

    assert restored.exit_code == 0, restored.stderr
    assert restored.json()["restored"] == len(done)
    assert dumps(client, list(stale)) == stale  # byte-exact: nothing lost


@FREEING_LOWERS_RSS
def test_rescue_text_output_says_what_happened(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    plant_incident(faulty)
    config = write_config(tmp_path)

    result = run_cli(
        "rescue", "--config", str(config), "--url", faulty.server.url, "--yes",
        "--match", "stale:*", "--action", "delete",
    )  # fmt: skip

    print(result.stdout)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"{faulty.server.url}: rescued — BGSAVE ok, writes accepted" in result.stdout
    assert "headroom before: verdict critical" in result.stdout
    assert "deleted" in result.stdout


def test_rescue_without_a_terminal_needs_yes(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, _, _ = plant_incident(faulty)

    result = run_cli("rescue", "--config", str(write_config(tmp_path)), "--url", faulty.server.url)

    assert result.exit_code == 64
    assert "--yes" in result.stderr
    assert save_settings(client) == ("yes", "3600 1")


def test_rescue_of_a_disk_failure_deletes_nothing(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    faulty = faulty_redis_factory({**MISCONF_CONFIG, "dir": str(data_dir)})
    client = faulty.server.client()
    stale = {
        f"stale:{i}".encode(): plant(client, f"stale:{i}", size=10_000, idle_seconds=40 * DAY)
        for i in range(5)
    }
    shutil.rmtree(data_dir)
    assert client.bgsave()
    assert bgsave_finished(client) == "err"

    result = run_cli(
        "rescue", "--config", str(write_config(tmp_path)), "--url", faulty.server.url,
        "--yes", "--format", "json", "--match", "*", "--action", "delete",
    )  # fmt: skip

    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["misconf_before"] is True
    assert document["misconf_after"] is True
    assert document["actions"] == []
    assert document["instances"][0]["diagnosis"]["cause"] == "disk"
    assert document["instances"][0]["block_lifted"] is False
    assert "Nothing was deleted" in document["advice"][0]
    assert dumps(client, list(stale)) == stale
    assert save_settings(client) == ("yes", "3600 1")
    assert not (tmp_path / "state").exists()


def test_rescue_that_cannot_free_enough_says_how_much_more_and_restores_settings(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, fresh = plant_incident(faulty)
    faulty.faults.limit_rss(1)  # no amount of freeing is enough
    # A recorded mode-2 host whose commit is already overcommitted: the model names a need.
    config = write_config(
        tmp_path, f'\n[headroom]\nproc_root = "{FIXTURES / "k6.8-mode2-overcommitted"}"\n'
    )

    result = run_cli(
        "rescue", "--config", str(config), "--url", faulty.server.url, "--yes",
        "--format", "json", "--match", "stale:*", "--action", "delete",
    )  # fmt: skip

    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["config_restored"] is True
    assert document["misconf_after"] is True
    assert document["bgsave_status"] == "refused"
    assert save_settings(client) == ("yes", "3600 1")
    assert not any(client.exists(key) for key in stale)  # every candidate went
    assert dumps(client, list(fresh)) == fresh
    advice = " ".join(document["advice"])
    assert "candidates ran out" in advice
    still_needed = document["after"]["instances"][0]["need_to_free_bytes"]
    said = re.search(r"about [0-9.]+ [KMG]iB more: (\d+) bytes", advice)
    assert said is not None, advice
    # measured a moment before "after" (the allocator may still settle): the same to within 16 MiB
    assert abs(int(said.group(1)) - still_needed) < 16 << 20
    assert "keys no rule acts on" in advice and "--match '*'" in advice
    with pytest.raises(redis.ResponseError, match=r"^MISCONF"):
        client.ping()
    assert not pending_restores(tmp_path / "state")


def test_rescue_dry_run_shows_the_first_round_and_changes_nothing(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, _ = plant_incident(faulty)

    result = run_cli(
        "rescue", "--config", str(write_config(tmp_path)), "--url", faulty.server.url,
        "--dry-run", "--format", "json", *ARCHIVE_STALE,
    )  # fmt: skip

    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["dry_run"] is True
    planned = document["actions"]
    assert planned and {a["result"] for a in planned} == {"planned"}
    assert sum(a["bytes"] for a in planned) >= 4 << 20  # one round of round_bytes
    assert dumps(client, list(stale)) == stale
    assert save_settings(client) == ("yes", "3600 1")
    assert not (tmp_path / "state").exists()


def test_sigterm_during_the_rescue_bgsave_restores_the_settings_and_exits_2(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = faulty.server.client()
    plant(client, "stale:0", size=10_000, idle_seconds=40 * DAY)
    faulty.faults.fail_forks()
    with pytest.raises(redis.ResponseError):
        client.bgsave()
    assert bgsave_finished(client) == "err"
    faulty.faults.allow_forks()
    client.config_set("rdb-key-save-delay", "60000000")  # the rescue's BGSAVE takes a minute
    command = [CLI, "rescue", "--config", str(write_config(tmp_path)), "--url", faulty.server.url]
    rescue = subprocess.Popen(
        [*command, "--yes", "--format", "json", "--match", "*", "--action", "delete"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert rescue.stderr is not None
        for line in rescue.stderr:  # JSON log lines; the pipe closes if the command exits
            if '"rescue.bgsave_started"' in line:
                break
        assert client.info("persistence")["rdb_bgsave_in_progress"] == 1
        assert save_settings(client) == ("no", "3600 1")

        rescue.terminate()
        stdout, _ = rescue.communicate(timeout=30)
    finally:
        if rescue.poll() is None:
            rescue.kill()
            rescue.communicate(timeout=10)

    assert rescue.returncode == 2
    document = json.loads(stdout)
    (instance,) = document["instances"]
    assert instance["interrupted"] is True
    assert document["config_restored"] is True
    assert save_settings(client) == ("yes", "3600 1")
    assert not pending_restores(tmp_path / "state")
    assert client.exists("stale:0") == 1  # the model said the fork fits: nothing was freed


def test_rescue_without_rules_deletes_nothing_and_suggests_one(
    faulty_redis_factory: FaultyRedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client, stale, fresh = plant_incident(faulty)

    result = run_cli(
        "rescue", "--config", str(write_config(tmp_path)), "--url", faulty.server.url,
        "--yes", "--format", "json",
    )  # fmt: skip

    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["actions"] == []
    assert document["config_restored"] is True
    advice = "\n".join(document["advice"])
    assert "no rule picked any key" in advice
    assert "idle ≥ 30d hold" in advice
    assert "`redis-janitor rescue --match '*' --min-idle 30d --action archive`" in advice
    assert dumps(client, list(stale)) == stale
    assert dumps(client, list(fresh)) == fresh
    assert save_settings(client) == ("yes", "3600 1")
