"""A run's scan spread over several runs: stop at max_duration, resume, re-judge, restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.instance_pass import PassOptions, PassResult, run_pass
from janitor.app.resumable_scan import checkpoint_path
from janitor.config.settings import Settings, load_settings
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

KIB = 1024
BIG = [f"big:{index}".encode() for index in range(6)]


def settings_for(server: RedisServer, tmp_path: Path, max_duration: str) -> Settings:
    overrides: dict[str, Any] = {
        "redis": {"urls": [server.url]},
        "service": {"state_dir": str(tmp_path / "state")},
        "scan": {"max_duration": max_duration, "count": 50},
        "policy": {
            "goal": "all",
            "rules": [{"name": "big", "min_size": "20KiB", "action": "delete"}],
        },
    }
    return load_settings(None, overrides=overrides, environ={})


def fill(server: RedisServer) -> None:
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for index in range(6000):
        pipe.set(f"small:{index}", "v")
    pipe.execute()
    for key in BIG:
        plant(client, key, kind="string", size=40 * KIB)


def dry_run(server: RedisServer, settings: Settings) -> PassResult:
    target = RedisTarget(server.url, settings)
    return run_pass(target, settings, PassOptions(dry_run=True, run_id="t"))


def planned(result: PassResult) -> set[bytes]:
    return {item.record.key for item in result.plan.actions}


def test_a_pass_spreads_over_runs_and_carried_candidates_are_rejudged(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    fill(redis_server)
    settings = settings_for(redis_server, tmp_path, "1ms")
    results = [dry_run(redis_server, settings)]
    assert results[0].scan_coverage is not None
    assert results[0].scan_coverage["pass_complete"] is False
    deleted = None
    while not results[-1].scan_coverage or not results[-1].scan_coverage["pass_complete"]:
        assert len(results) < 500, "the pass never completes"
        if deleted is None and planned(results[-1]):
            deleted = sorted(planned(results[-1]))[0]
            redis_server.client().delete(deleted)  # a carried candidate that is gone now
        results.append(dry_run(redis_server, settings))
    assert len(results) > 2
    final = results[-1]
    assert deleted is not None
    assert planned(final) == set(BIG) - {deleted}
    coverage = final.scan_coverage
    assert coverage is not None
    assert coverage["keys_scanned_in_pass"] >= 6006 - 1
    assert coverage["last_full_pass_age_seconds"] is not None
    assert all(r.scanned_keys is not None and r.scanned_keys < 6005 for r in results)


def test_a_new_server_run_id_starts_the_pass_over(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    fill(redis_server)
    settings = settings_for(redis_server, tmp_path, "1ms")
    first = dry_run(redis_server, settings)
    second = dry_run(redis_server, settings)
    assert second.scan_coverage is not None and first.scan_coverage is not None
    assert (
        second.scan_coverage["keys_scanned_in_pass"] > first.scan_coverage["keys_scanned_in_pass"]
    )
    path = checkpoint_path(RedisTarget(redis_server.url, settings), settings)
    saved = json.loads(path.read_text())
    saved["server_run_id"] = "another-server"  # as after a restart or a failover
    path.write_text(json.dumps(saved))
    third = dry_run(redis_server, settings)
    assert third.scan_coverage is not None
    assert third.scan_coverage["keys_scanned_in_pass"] == third.scanned_keys


def test_without_max_duration_the_scan_runs_to_the_end(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    fill(redis_server)
    result = dry_run(redis_server, settings_for(redis_server, tmp_path, "0"))
    assert result.scanned_keys == 6006
    assert planned(result) == set(BIG)
    assert not (tmp_path / "state" / "scans").exists()
