"""Conditional actions against a real redis-server: nothing changed is lost or lengthened."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from janitor.adapters.files.archive import ArchiveReader, ArchiveWriter
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.key_actions import ActionHooks, KeyActor, read_proto_max_bulk_len
from janitor.adapters.redis.scanner import KeyspaceScanner, ScanOptions
from janitor.app.instance_pass import PassOptions, run_pass
from janitor.config.settings import load_settings
from janitor.domain.planner import PlannedAction
from tests.conftest import RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import RedisServer, wait_for
from tests.support.server_build import ServerBuild, requires

DAY = 86400


class CrashError(Exception):
    """Stands in for the process dying at a chosen point."""


def target_for(server: RedisServer) -> RedisTarget:
    settings = load_settings(None, overrides={"redis": {"urls": [server.url]}}, environ={})
    return RedisTarget(server.url, settings)


def judged(
    server: RedisServer, key: bytes, action: str, expire_in: float | None = None
) -> PlannedAction:
    info = read_server_info(server.client())
    scanner = KeyspaceScanner(server.client, info.idle_metric, ScanOptions())
    (record,) = scanner.probe(server.client(), 0, [key])
    return PlannedAction(record, action, "test", 1.0, expire_in)


def actor(server: RedisServer, archive: ArchiveWriter | None = None, **hooks: object) -> KeyActor:
    target = target_for(server)
    info = read_server_info(server.client())
    return KeyActor(target, info, archive, 512 * 1024**2, 5, ActionHooks(**hooks))  # type: ignore[arg-type]


def test_delete_unlinks_an_unchanged_key(redis_server: RedisServer) -> None:
    client = redis_server.client()
    plant(client, b"old\xff\n", size=5000, idle_seconds=40 * DAY)
    outcome = actor(redis_server).act(judged(redis_server, b"old\xff\n", "delete"), dry_run=False)
    assert (outcome.result, outcome.reason) == ("done", "deleted")
    assert client.exists(b"old\xff\n") == 0


def test_dry_run_sends_nothing(redis_server: RedisServer) -> None:
    client = redis_server.client()
    plant(client, b"old", size=5000, idle_seconds=40 * DAY)
    outcome = actor(redis_server).act(judged(redis_server, b"old", "delete"), dry_run=True)
    assert outcome.result == "planned"
    assert client.exists(b"old") == 1
    assert client.object("idletime", b"old") >= 40 * DAY


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c.set(b"k", b"y" * 5000), "idle time reset"),
        (lambda c: c.get(b"k"), "idle time reset"),
        (lambda c: c.expire(b"k", 3600), "TTL was set"),
        (lambda c: c.delete(b"k"), "no longer exists"),
        (lambda c: (c.delete(b"k"), c.rpush(b"k", b"x")), "type is now list"),
    ],
)
def test_a_key_changed_between_judging_and_acting_is_not_deleted(
    redis_server: RedisServer, change: object, reason: str, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant(client, b"k", size=5000, idle_seconds=40 * DAY)
    item = judged(redis_server, b"k", "archive")
    archive = ArchiveWriter(tmp_path / "archive", "run", redis_server.url)
    writer = actor(redis_server, archive, before_check=lambda _: change(client))  # type: ignore[operator]
    outcome = writer.act(item, dry_run=False)
    assert outcome.result == "skipped"
    assert reason in outcome.reason
    assert archive.records_written == 0


def test_a_write_after_the_archive_is_durable_aborts_the_unlink(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant(client, b"k", size=5000, idle_seconds=40 * DAY)
    archive = ArchiveWriter(tmp_path / "archive", "run", redis_server.url)
    writer = actor(redis_server, archive, before_unlink=lambda _: client.append(b"k", b"new"))
    outcome = writer.act(judged(redis_server, b"k", "archive"), dry_run=False)
    assert outcome.result == "skipped"
    assert "WATCH" in outcome.reason
    assert client.get(b"k") == b"x" * 5000 + b"new"


def test_archive_writes_a_durable_record_before_unlinking(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    payload = plant(
        client, b"bin\x00key", kind="hash", size=3000, idle_seconds=40 * DAY, ttl_ms=3_600_000
    )
    item = judged(redis_server, b"bin\x00key", "archive")
    archive = ArchiveWriter(tmp_path / "archive", "run", redis_server.url)
    seen_before_unlink: list[int] = []

    def check_archive(_: PlannedAction) -> None:
        assert archive.path is not None
        seen_before_unlink.append(len(list(ArchiveReader(archive.path))))
        seen_before_unlink.append(client.exists(b"bin\x00key"))

    outcome = actor(redis_server, archive, before_unlink=check_archive).act(item, dry_run=False)
    assert outcome.result == "done"
    assert seen_before_unlink == [1, 1]
    assert client.exists(b"bin\x00key") == 0
    assert archive.path is not None
    (stored,) = list(ArchiveReader(archive.path))
    assert stored.payload == payload
    assert stored.key == b"bin\x00key"
    assert stored.type == "hash"
    assert stored.expire_at_ms is not None
    assert stored.idle_seconds is not None and stored.idle_seconds >= 40 * DAY


def test_crash_between_archive_and_unlink_loses_nothing(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    payload = plant(client, b"k", size=5000, idle_seconds=40 * DAY)
    archive = ArchiveWriter(tmp_path / "archive", "run", redis_server.url)

    def die(_: PlannedAction) -> None:
        raise CrashError

    with pytest.raises(CrashError):
        actor(redis_server, archive, before_unlink=die).act(
            judged(redis_server, b"k", "archive"), dry_run=False
        )
    assert client.dump(b"k") == payload
    assert archive.path is not None
    assert [r.payload for r in ArchiveReader(archive.path)] == [payload]
    # the next run judges the key afresh and archives it correctly
    second = ArchiveWriter(tmp_path / "archive", "run2", redis_server.url)
    outcome = actor(redis_server, second).act(judged(redis_server, b"k", "archive"), dry_run=False)
    assert outcome.result == "done"
    assert client.exists(b"k") == 0
    assert second.path is not None
    assert [r.payload for r in ArchiveReader(second.path)] == [payload]


@requires(7, 2, "CLIENT NO-TOUCH")
def test_an_interrupted_archive_leaves_the_idle_time_untouched(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant(client, b"k", size=5000, idle_seconds=40 * DAY)
    archive = ArchiveWriter(tmp_path / "archive", "run", redis_server.url)

    def die(_: PlannedAction) -> None:
        raise CrashError

    with pytest.raises(CrashError):
        actor(redis_server, archive, before_unlink=die).act(
            judged(redis_server, b"k", "archive"), dry_run=False
        )
    assert client.exists(b"k") == 1
    assert client.object("idletime", b"k") >= 40 * DAY  # DUMP ran with CLIENT NO-TOUCH ON


def test_payload_over_the_limit_is_skipped_and_kept(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant(client, b"big", size=20_000, idle_seconds=40 * DAY)
    archive = ArchiveWriter(tmp_path / "archive", "run", redis_server.url)
    info = read_server_info(client)
    small_limit = KeyActor(target_for(redis_server), info, archive, 10_000, 5)
    outcome = small_limit.act(judged(redis_server, b"big", "archive"), dry_run=False)
    assert outcome.result == "skipped"
    assert "over 10000 B" in outcome.reason
    assert client.exists(b"big") == 1


def test_payload_over_proto_max_bulk_len_is_skipped_and_kept(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant(client, b"huge", size=2 * 1024 * 1024, idle_seconds=40 * DAY)
    client.config_set("proto-max-bulk-len", 1024 * 1024)
    assert read_proto_max_bulk_len(client) == 1024 * 1024
    archive = ArchiveWriter(tmp_path / "archive", "run", redis_server.url)
    outcome = actor(redis_server, archive).act(
        judged(redis_server, b"huge", "archive"), dry_run=False
    )
    assert outcome.result == "skipped"
    assert "over 1048576 B" in outcome.reason
    assert client.exists(b"huge") == 1
    assert archive.records_written == 0


def test_expire_sets_or_shortens_but_never_lengthens(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for key, ttl_ms in ((b"none", 0), (b"long", 10 * DAY * 1000), (b"short", 60_000)):
        plant(client, key, size=1000, idle_seconds=DAY, ttl_ms=ttl_ms)
    hour = 3600.0
    results = {
        key: actor(redis_server).act(judged(redis_server, key, "expire", hour), dry_run=False)
        for key in (b"none", b"long", b"short")
    }
    assert results[b"none"].result == "done"
    assert 0 < client.pttl(b"none") <= hour * 1000
    assert results[b"long"].result == "done"
    assert 0 < client.pttl(b"long") <= hour * 1000
    assert results[b"short"].result == "skipped"
    assert "shorter" in results[b"short"].reason
    assert 0 < client.pttl(b"short") <= 60_000


def test_expire_sends_lt_exactly_where_the_server_has_it(
    redis_server: RedisServer, redis_build: ServerBuild
) -> None:
    client = redis_server.client()
    plant(client, b"k", size=1000, idle_seconds=DAY)
    seen: list[str] = []
    with redis_server.client().monitor() as monitor:

        def watch() -> None:
            # Until the EXEC of the action (an empty MULTI/EXEC checks the ACL first).
            while not any(c.startswith("PEXPIRE") for c in seen) or not seen[-1].startswith("EXEC"):
                seen.append(str(monitor.next_command()["command"]))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        item = judged(redis_server, b"k", "expire", 3600.0)
        outcome = actor(redis_server).act(item, dry_run=False)
        watcher.join(timeout=10)
    assert outcome.result == "done"
    expected = "PEXPIRE k 3600000 LT" if redis_build.at_least(7, 0) else "PEXPIRE k 3600000"
    assert [command for command in seen if command.startswith("PEXPIRE")] == [expected]


def test_expire_without_the_lt_flag_on_servers_before_7_0(redis_server: RedisServer) -> None:
    client = redis_server.client()
    plant(client, b"long", size=1000, idle_seconds=DAY, ttl_ms=10 * DAY * 1000)
    plant(client, b"short", size=1000, idle_seconds=DAY, ttl_ms=60_000)
    info = dataclasses.replace(read_server_info(client), version="6.2.14", version_tuple=(6, 2, 14))
    old_server = KeyActor(target_for(redis_server), info, None, 512 * 1024**2, 5)
    long = old_server.act(judged(redis_server, b"long", "expire", 3600.0), dry_run=False)
    short = old_server.act(judged(redis_server, b"short", "expire", 3600.0), dry_run=False)
    assert (long.result, short.result) == ("done", "skipped")
    assert 0 < client.pttl(b"long") <= 3_600_000
    assert 0 < client.pttl(b"short") <= 60_000


def test_writes_refused_by_misconf_fail_once_and_stop_the_run(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    server = redis_factory({"save": "3600 1", "enable-protected-configs": "yes"})
    client = server.client()
    for index in range(3):
        plant(client, f"k{index}", size=5000, idle_seconds=40 * DAY)
    gone = tmp_path / "gone"
    gone.mkdir()
    client.config_set("dir", str(gone))
    gone.rmdir()
    client.bgsave()
    wait_for(lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err")
    settings = load_settings(
        None,
        overrides={
            "redis": {"urls": [server.url]},
            "archive": {"dir": str(tmp_path / "archive")},
            "policy": {"goal": "all", "rules": [{"name": "r", "action": "archive"}]},
        },
        environ={},
    )
    result = run_pass(RedisTarget(server.url, settings), settings, PassOptions(False, "t"))
    assert [o.result for o in result.outcomes] == ["failed", "skipped", "skipped"]
    assert result.outcomes[0].writes_refused
    assert "MISCONF" in result.outcomes[1].reason
    assert client.dbsize() == 3
