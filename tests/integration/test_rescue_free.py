"""The rescue's free step against real servers: real policy, real conditional actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from janitor.adapters.files.archive import ArchiveReader
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.key_actions import KeyActor
from janitor.adapters.redis.scanner import KeyspaceScanner, ScanOptions
from janitor.app.rescue import free as free_module
from janitor.app.rescue.free import PolicyFreer
from janitor.config.settings import Settings, load_settings
from janitor.domain.planner import PlannedAction
from tests.support.forkfail import MISCONF_CONFIG, FaultyRedisFactory, bgsave_finished
from tests.support.keys import plant
from tests.support.redis_server import RedisServer, command_calls

DAY = 86400
KiB = 1024


def settings_for(server: RedisServer, tmp_path: Path, action: str = "delete") -> Settings:
    overrides = {
        "redis": {"urls": [server.url]},
        "policy": {
            "rules": [{"name": "stale", "match": ["stale:*"], "min_idle": "30d", "action": action}],
            "settle_timeout": "2s",
        },
        "archive": {"dir": str(tmp_path / "archive")},
        "rescue": {"round_bytes": "200KiB", "state_dir": str(tmp_path / "state")},
    }
    return load_settings(None, overrides=overrides, environ={})


def plant_stale(client: redis.Redis, count: int = 6) -> dict[bytes, bytes]:
    return {
        f"stale:{i}".encode(): plant(client, f"stale:{i}", size=100 * KiB, idle_seconds=40 * DAY)
        for i in range(count)
    }


def test_each_call_acts_on_the_next_round_until_the_candidates_run_out(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant_stale(client)
    plant(client, "fresh", size=100 * KiB)
    settings = settings_for(redis_server, tmp_path)
    freer = PolicyFreer(
        RedisTarget(redis_server.url, settings), settings, dry_run=False, run_id="t"
    )

    rounds = [freer(0), freer(0), freer(0), freer(0)]

    assert rounds[0] > 0 and rounds[1] > 0
    assert rounds[-1] == 0  # ran out
    assert sum(rounds) == sum(o.planned.record.size_bytes for o in freer.outcomes)
    assert [o.result for o in freer.outcomes] == ["done"] * 6
    assert client.keys("stale:*") == []
    assert client.exists("fresh") == 1
    assert freer.plan is not None and freer.plan.candidates == 6


def test_a_key_written_since_the_scan_is_skipped_and_the_next_round_follows(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant_stale(client, count=2)
    settings = settings_for(redis_server, tmp_path)
    settings.rescue.round_bytes = 1  # one key per round
    freer = PolicyFreer(
        RedisTarget(redis_server.url, settings), settings, dry_run=False, run_id="t"
    )
    freer._candidates()  # scan and plan now, then a client writes to the first candidate
    assert freer.plan is not None
    first = freer.plan.actions[0].record.key
    client.set(first, b"rewritten")

    removed = freer(0)

    assert removed > 0
    assert [o.result for o in freer.outcomes] == ["skipped", "done"]
    assert "changed since judged" in freer.outcomes[0].reason
    assert client.get(first) == b"rewritten"


def test_archived_rounds_go_to_one_archive_file_before_the_keys_are_unlinked(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    payloads = plant_stale(client, count=4)
    settings = settings_for(redis_server, tmp_path, action="archive")
    freer = PolicyFreer(
        RedisTarget(redis_server.url, settings), settings, dry_run=False, run_id="t"
    )

    while freer(0):
        pass
    freer.close()

    assert freer.archive_file is not None
    records = list(ArchiveReader(Path(freer.archive_file)))
    assert {record.key: record.payload for record in records} == payloads
    assert client.keys("stale:*") == []


def test_a_dry_run_previews_one_round_and_sends_nothing(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    payloads = plant_stale(client)
    settings = settings_for(redis_server, tmp_path)
    freer = PolicyFreer(RedisTarget(redis_server.url, settings), settings, dry_run=True, run_id="t")

    planned = freer.preview(0)

    assert planned and {o.result for o in planned} == {"planned"}
    assert sum(o.planned.record.size_bytes for o in planned) >= 200 * KiB
    assert {key: client.dump(key) for key in payloads} == payloads


def test_an_unlink_refused_inside_multi_exec_is_recognised_as_misconf(
    faulty_redis_factory: FaultyRedisFactory, tmp_path: Path
) -> None:
    faulty = faulty_redis_factory(MISCONF_CONFIG)
    client = faulty.server.client()
    payloads = plant_stale(client, count=1)
    faulty.faults.fail_forks()
    with pytest.raises(redis.ResponseError):
        client.bgsave()
    assert bgsave_finished(client) == "err"
    settings = settings_for(faulty.server, tmp_path)
    server = read_server_info(client)
    (record,) = KeyspaceScanner(faulty.server.client, server.idle_metric, ScanOptions()).probe(
        client, 0, list(payloads)
    )
    actor = KeyActor(RedisTarget(faulty.server.url, settings), server, None, 1 << 30, 5)

    outcome = actor.act(PlannedAction(record, "delete", "stale", 1.0), dry_run=False)

    assert outcome.result == "failed"
    assert "of pipeline caused error: MISCONF" in outcome.reason
    assert outcome.writes_refused
    assert {key: client.dump(key) for key in payloads} == payloads


def scanned_by(server: RedisServer, freer: PolicyFreer) -> dict[str, int]:
    """The commands ``freer``'s scan sent, from INFO commandstats deltas."""
    before = command_calls(server)
    freer._candidates()
    after = command_calls(server)
    return {name: after[name] - before.get(name, 0) for name in after}


def test_the_rescue_scan_sizes_every_key_and_reads_the_rest_only_for_big_ones(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis_server.client()
    pipe = client.pipeline(transaction=False)
    for index in range(400):
        pipe.set(f"small:{index}", "v" * 40)
    pipe.execute()
    for index in range(40):  # small but stale: no rule can act on them (under min_size)
        plant(client, f"old:{index}", size=200, idle_seconds=40 * DAY)
    plant_stale(client, count=4)  # 100 KiB, 40 days idle: candidates
    for index in range(3):  # big but fresh: leftovers with an idle time
        plant(client, f"fresh:{index}", kind="hash", size=60 * KiB, idle_seconds=2 * DAY)
    client.pexpire("small:0", 600_000)  # some key expires: PTTL is asked
    total, big = 400 + 40 + 4 + 3, 4 + 3
    settings = settings_for(redis_server, tmp_path)
    settings.policy.rules[0].min_size = 10 * KiB

    def freer() -> PolicyFreer:
        target = RedisTarget(redis_server.url, settings)
        return PolicyFreer(target, settings, dry_run=True, run_id="t")

    size_first = freer()
    sent = scanned_by(redis_server, size_first)
    assert sent["memory|usage"] == total
    assert sent["object|idletime"] == sent["type"] == sent["pttl"] == big

    real_scan = free_module.scan_instance

    def full_scan(target: RedisTarget, settings: Settings, *args: object, **kw: object) -> Any:
        progress, offer = args[0], args[1]
        return real_scan(target, settings, progress, offer)  # type: ignore[arg-type]

    monkeypatch.setattr(free_module, "scan_instance", full_scan)
    full = freer()
    sent = scanned_by(redis_server, full)
    assert sent["memory|usage"] == sent["object|idletime"] == sent["type"] == total

    def plan_of(item: PolicyFreer) -> list[tuple[bytes, str]]:
        assert item.plan is not None
        return [(a.record.key, a.action) for a in item.plan.actions]

    assert plan_of(size_first) == plan_of(full) == [(k, "delete") for k in sorted_stale(full)]
    assert len(plan_of(full)) == 4
    tally = size_first.leftovers
    assert tally is not None and tally == full.leftovers
    assert tally.keys_by_step[-1] == 3 and tally.small_keys == 440
    big_leftover = tally.bytes_by_step[-1]
    needs = (big_leftover, big_leftover + 1, big_leftover + tally.small_bytes + 1)
    for need in needs:
        assert size_first.advice(need) == full.advice(need)
    covered = size_first.advice(needs[0])[-1]
    assert "keys of 10.0 KiB or more no rule acts on idle ≥ 1d hold" in covered
    assert "--min-size 10240 --min-idle 1d" in covered
    assert "(443 keys, 440 of them under 10.0 KiB" in size_first.advice(needs[1])[-1]
    assert "even that may not be enough" in size_first.advice(needs[2])[-1]


def sorted_stale(freer: PolicyFreer) -> list[bytes]:
    """The stale keys in the order the plan takes them (score: bytes x idle)."""
    assert freer.plan is not None
    return [a.record.key for a in freer.plan.actions if a.record.key.startswith(b"stale:")]
