"""Several instances worked on side by side (``scan.parallel_instances``) against real servers.

Concurrency is proven with a barrier inside the scans' progress callbacks: every instance's
scan must be under way at the same time for the barrier to open (a sequential loop would leave
it waiting until its deadline, and the test fails).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.lock import default_lock_dir
from janitor.app.cleanup import CleanupRequest, run_cleanup, scheduled_cleanup_cycle
from janitor.app.context import AppContext
from janitor.app.instance_loop import StopRequested, for_each_instance
from janitor.app.instance_pass import HeadroomSnapshot, PassOptions, info_headroom_meter
from janitor.app.inventory import InstanceScan, scan_instance
from janitor.app.locked_pass import locked_pass
from janitor.config.settings import Settings, load_settings
from janitor.core.errors import ExitCode
from tests.conftest import RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import RedisServer, free_port

DAY = 86400
KIB = 1024
DEADLINE = 30.0


def settings_for(urls: list[str], tmp_path: Path, **policy: Any) -> Settings:
    overrides = {
        "redis": {"urls": urls, "connect_timeout": 1},
        "scan": {"parallel_instances": 3, "max_client_cpu": 0.5, "count": 50},
        "service": {"state_dir": str(tmp_path / "state")},
        "rescue": {"state_dir": str(tmp_path / "rescue")},
        "archive": {"dir": str(tmp_path / "archive")},
        "history": {"path": str(tmp_path / "history.jsonl")},
        "policy": {
            "rules": [
                {"name": "stale", "match": ["cache:*"], "min_idle": "30d", "action": "delete"}
            ],
            "goal": "all",
            "settle_timeout": 2,
            **policy,
        },
    }
    return load_settings(None, overrides=overrides, environ={})


def populate(server: RedisServer, stale: int, small: int = 300) -> None:
    client = server.client()
    if small:
        client.mset({f"small:{index}": "v" * 30 for index in range(small)})
    for index in range(stale):
        plant(client, f"cache:{index}", size=20 * KIB, idle_seconds=40 * DAY)


def meeting(parties: int) -> Callable[[str], Any]:
    """A progress factory whose callback waits, on its first batch, until ``parties`` scans
    have all started (BrokenBarrierError after the deadline: they did not run together)."""
    barrier = threading.Barrier(parties, timeout=DEADLINE)

    @contextmanager
    def progress(_name: str) -> Iterator[Callable[[int, int], None]]:
        met = [False]

        def update(_done: int, _total: int) -> None:
            if not met[0]:
                met[0] = True
                barrier.wait()

        yield update

    return progress


def test_report_scans_side_by_side_and_keeps_each_instances_result(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    servers = [redis_factory(), redis_factory()]
    for count, server in zip((300, 700), servers, strict=True):
        server.client().mset({f"k{index}": "v" for index in range(count)})
    down = f"redis://127.0.0.1:{free_port()}"
    urls = [servers[0].url, down, servers[1].url]
    settings = settings_for(urls, tmp_path)
    progress = meeting(2)

    def scan(target: RedisTarget) -> InstanceScan:
        with progress(target.display) as update:
            return scan_instance(target, settings, update)

    targets = [RedisTarget(url, settings) for url in urls]
    done = for_each_instance(targets, settings, scan, may_write=False, workers=3)
    assert [scan.display for scan in done.results] == [servers[0].url, servers[1].url]
    assert [scan.aggregates.total.keys for scan in done.results] == [300, 700]
    assert [(url, int(error.exit_code)) for url, error in done.failures] == [(down, 69)]


def cleanup_of(settings: Settings, **request: Any) -> Any:
    return run_cleanup(AppContext(settings, "t", "json"), CleanupRequest(**request))


def summary(cleanup: Any) -> list[tuple[str, list[tuple[bytes, str, str]]]]:
    return [
        (
            result.instance,
            sorted((o.planned.record.key, o.planned.action, o.result) for o in result.outcomes),
        )
        for result in cleanup.instances.results
    ]


def test_run_side_by_side_gives_the_sequential_results_and_exit_code(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    servers = [redis_factory() for _ in range(3)]
    for stale, server in zip((2, 3, 4), servers, strict=True):
        populate(server, stale)
    settings = settings_for([server.url for server in servers], tmp_path)

    alone = cleanup_of(settings, dry_run=True, workers=1)
    together = cleanup_of(settings, dry_run=True, workers=3, progress=meeting(3))

    assert summary(together) == summary(alone)
    assert [len(actions) for _, actions in summary(together)] == [2, 3, 4]
    assert together.exit_code == alone.exit_code
    documents = [c.document("t", True) for c in (alone, together)]
    assert [d["actions"] for d in documents[1:]] == [documents[0]["actions"]]
    assert [m.instance for m in together.metrics] == [server.url for server in servers]


def test_one_instance_down_still_gives_the_others_results(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    servers = [redis_factory() for _ in range(2)]
    down = f"redis://127.0.0.1:{free_port()}"
    urls = [servers[0].url, down, servers[1].url]

    def run(workers: int, **request: Any) -> tuple[Any, list[int]]:
        for server in servers:
            populate(server, 3)
        cleanup = cleanup_of(
            settings_for(urls, tmp_path), dry_run=False, workers=workers, **request
        )
        return cleanup, [len(server.client().keys("cache:*")) for server in servers]

    together, left = run(3, progress=meeting(2))
    assert left == [0, 0]
    alone, _ = run(1)
    assert summary(together) == summary(alone)
    assert [(url, int(e.exit_code)) for url, e in together.failures] == [(down, 69)]
    assert together.exit_code == alone.exit_code == ExitCode.CRITICAL  # a failed instance


def host_wide_need(servers: list[RedisServer], keep: int) -> Callable[[RedisTarget], Any]:
    """A meter for instances sharing one host: 20 KiB must go per key above ``keep`` in all."""

    def meter(target: RedisTarget) -> HeadroomSnapshot:
        base = info_headroom_meter(target)
        total = sum(len(server.client().keys("cache:*")) for server in servers)
        need = max(0, total - keep) * 20 * KIB
        verdict = "warn" if need else "ok"
        return HeadroomSnapshot({**base.document, "verdict": verdict}, verdict, need)

    return meter


def test_side_by_side_instances_act_in_turn_on_the_need_left_by_earlier_ones(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    servers = [redis_factory() for _ in range(2)]
    for server in servers:
        populate(server, 3, small=0)
    settings = settings_for([s.url for s in servers], tmp_path, headroom_margin_bytes=0)
    meter = host_wide_need(servers, keep=3)  # 3 of the 6 keys must go, on either instance
    progress = meeting(2)

    def clean(target: RedisTarget) -> Any:
        with progress(target.display) as update:
            options = PassOptions(
                dry_run=False, run_id="t", goal="headroom", meter=meter, progress=update
            )
            return locked_pass(target, settings, options, default_lock_dir(settings))

    targets = [RedisTarget(s.url, settings) for s in servers]
    done = for_each_instance(targets, settings, clean, may_write=True, workers=2)

    first, second = done.results
    assert first.count("done") == 3 and first.before.need_to_free_bytes == 60 * KIB
    assert second.outcomes == [] and second.before.need_to_free_bytes == 0
    assert second.scanned_keys == 3  # it scanned while the first one did, then was not needed
    assert "after the instances before it acted" in second.warnings[0]
    assert [len(s.client().keys("cache:*")) for s in servers] == [0, 3]


def test_a_stop_inside_one_scan_stops_the_others(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    servers = [redis_factory() for _ in range(3)]
    for server in servers:
        populate(server, 0, small=20_000)
    settings = settings_for([s.url for s in servers], tmp_path)
    barrier = threading.Barrier(3, timeout=DEADLINE)
    calls: dict[str, int] = {}

    def scan(target: RedisTarget) -> InstanceScan:
        def update(_done: int, _total: int) -> None:
            calls[target.display] = calls.get(target.display, 0) + 1
            if calls[target.display] == 1:
                barrier.wait()  # all three are scanning
                if target.display == servers[0].url:
                    raise StopRequested

        return scan_instance(target, settings, update)

    targets = [RedisTarget(s.url, settings) for s in servers]
    done = for_each_instance(targets, settings, scan, may_write=False, workers=3)
    assert done.stopped == "stop requested during the scan"
    assert done.results == [] and done.failures == []  # abandoned at their next batch
    assert all(calls[s.url] < 20_000 / 50 for s in servers)


def test_a_serve_cycle_cleans_instances_side_by_side_and_a_set_stop_starts_none(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    servers = [redis_factory() for _ in range(2)]
    for server in servers:
        populate(server, 3)
    settings = settings_for([s.url for s in servers], tmp_path)
    app = AppContext(settings, "t", "json")

    stop = threading.Event()
    stop.set()
    stopped = scheduled_cleanup_cycle(app, stop)
    assert stopped.metrics == []
    assert [len(s.client().keys("cache:*")) for s in servers] == [3, 3]

    cycle = scheduled_cleanup_cycle(app, threading.Event())
    assert cycle.exit_code == ExitCode.OK
    assert [m.instance for m in cycle.metrics] == [s.url for s in servers]
    assert [m.acted_keys for m in cycle.metrics] == [{"delete": 3}, {"delete": 3}]
    assert [len(s.client().keys("cache:*")) for s in servers] == [0, 0]
