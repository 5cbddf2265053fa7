"""Archive → delete → restore round trips against real redis-servers, byte-exact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from janitor.adapters.files.archive import FILE_MAGIC, FRAME_MAGIC
from janitor.adapters.redis.connection import RedisTarget
from janitor.app.instance_pass import PassOptions, run_pass
from janitor.app.restore import restore_archives
from janitor.config.settings import Settings, load_settings
from tests.conftest import CliResult, RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

DAY = 86400
KEYS = {
    b"\xff\xfe invalid utf8": "string",
    b"line\nbreak": "hash",
    b"with space": "list",
    b"nul\x00byte": "set",
    b"caf\xc3\xa9": "zset",
}


def settings_for(server: RedisServer, archive_dir: Path) -> Settings:
    overrides = {
        "redis": {"urls": [server.url]},
        "archive": {"dir": str(archive_dir)},
        "policy": {
            "goal": "all",
            "settle_timeout": 5,
            "rules": [{"name": "stale", "min_idle": "30d", "action": "archive"}],
        },
    }
    return load_settings(None, overrides=overrides, environ={})


def archive_everything(server: RedisServer, archive_dir: Path) -> dict[bytes, bytes]:
    """Plant the binary-named keys (one with a TTL), archive them all; return their payloads."""
    client = server.client(3)
    payloads = {}
    for key, kind in KEYS.items():
        ttl = 3_600_000 if kind == "hash" else 0
        payloads[key] = plant(client, key, kind=kind, size=3000, idle_seconds=40 * DAY, ttl_ms=ttl)
    settings = settings_for(server, archive_dir)
    result = run_pass(RedisTarget(server.url, settings), settings, PassOptions(False, "r1"))
    assert result.count("done") == len(KEYS)
    assert client.dbsize() == 0
    return payloads


def test_restore_round_trip_is_byte_exact_with_ttl_and_idle_time(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    payloads = archive_everything(redis_server, tmp_path / "archive")
    target = RedisTarget(redis_server.url, settings_for(redis_server, tmp_path / "archive"))
    summary = restore_archives(
        target, tmp_path / "archive", match=None, replace=False, dry_run=False
    )
    assert (summary.restored, summary.skipped, summary.failed) == (len(KEYS), 0, 0)
    client = redis_server.client(3)
    for key, payload in payloads.items():
        assert client.object("idletime", key) >= 40 * DAY
        assert client.dump(key) == payload
    assert 3_500_000 < client.pttl(b"line\nbreak") <= 3_600_000
    assert client.pttl(b"with space") == -1

    again = restore_archives(target, tmp_path / "archive", match=None, replace=False, dry_run=False)
    assert (again.restored, again.skipped, again.failed) == (0, len(KEYS), 0)


def test_restore_match_replace_and_dry_run(redis_server: RedisServer, tmp_path: Path) -> None:
    payloads = archive_everything(redis_server, tmp_path / "archive")
    target = RedisTarget(redis_server.url, settings_for(redis_server, tmp_path / "archive"))
    client = redis_server.client(3)
    dry = restore_archives(
        target, tmp_path / "archive", match="*space", replace=False, dry_run=True
    )
    assert (dry.restored, dry.skipped) == (1, 0)
    assert client.dbsize() == 0
    client.rpush(b"with space", b"newer")
    kept = restore_archives(
        target, tmp_path / "archive", match="*space", replace=False, dry_run=False
    )
    assert kept.skipped == 1
    assert client.lrange(b"with space", 0, -1) == [b"newer"]
    replaced = restore_archives(
        target, tmp_path / "archive", match="*space", replace=True, dry_run=False
    )
    assert replaced.restored == 1
    assert client.dump(b"with space") == payloads[b"with space"]
    assert client.dbsize() == 1


def test_keys_expired_since_archiving_are_skipped(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    archive_everything(redis_server, tmp_path / "archive")
    target = RedisTarget(redis_server.url, settings_for(redis_server, tmp_path / "archive"))
    later = restore_archives(
        target,
        tmp_path / "archive",
        match=None,
        replace=False,
        dry_run=False,
        clock=lambda: 4_000_000_000.0,
    )
    assert later.skipped == 1
    assert later.restored == len(KEYS) - 1
    assert redis_server.client(3).exists(b"line\nbreak") == 0


def test_restore_into_an_lfu_server_sets_freq(redis_factory: RedisFactory, tmp_path: Path) -> None:
    lfu = redis_factory({"maxmemory-policy": "allkeys-lfu"})
    plant(lfu.client(), b"hot", size=3000, freq=3)
    settings = settings_for(lfu, tmp_path / "archive")
    settings.policy.rules[0].min_idle = None
    settings.policy.rules[0].max_freq = 10
    result = run_pass(RedisTarget(lfu.url, settings), settings, PassOptions(False, "r1"))
    assert result.count("done") == 1
    summary = restore_archives(
        RedisTarget(lfu.url, settings),
        tmp_path / "archive",
        match=None,
        replace=False,
        dry_run=False,
    )
    assert summary.restored == 1
    assert 0 < lfu.client().object("freq", b"hot") <= 10


def test_a_key_archived_twice_comes_back_as_its_newest_copy(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis_server.client()
    settings = settings_for(redis_server, tmp_path / "archive")
    target = RedisTarget(redis_server.url, settings)
    plant(client, b"k", size=1000, idle_seconds=40 * DAY)
    first = run_pass(target, settings, PassOptions(False, "r1", clock=lambda: 1_000.0))
    newest = plant(client, b"k", size=2000, idle_seconds=40 * DAY)
    second = run_pass(target, settings, PassOptions(False, "r2", clock=lambda: 2_000.0))
    assert first.count("done") == second.count("done") == 1
    assert first.archive_file != second.archive_file
    summary = restore_archives(
        target, tmp_path / "archive", match=None, replace=False, dry_run=False
    )
    assert (summary.restored, summary.skipped) == (1, 0)
    assert client.dump(b"k") == newest


def test_restore_from_a_torn_archive_keeps_the_records_before_the_tear(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    payloads = archive_everything(redis_server, tmp_path / "archive")
    (archive_file,) = (tmp_path / "archive").iterdir()
    archive_file.write_bytes(archive_file.read_bytes()[:-7])
    target = RedisTarget(redis_server.url, settings_for(redis_server, tmp_path / "archive"))
    summary = restore_archives(target, archive_file, match=None, replace=False, dry_run=False)
    assert summary.restored == len(KEYS) - 1
    assert summary.files[0]["torn_tail"] is True
    assert summary.damaged_files == 0
    client = redis_server.client(3)
    assert sum(client.dump(key) == payload for key, payload in payloads.items()) == len(KEYS) - 1


def test_restore_cli_reports_mid_file_damage_with_its_offset_and_restores_the_rest(
    redis_server: RedisServer, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    payloads = archive_everything(redis_server, tmp_path / "archive")
    (archive_file,) = (tmp_path / "archive").iterdir()
    data = bytearray(archive_file.read_bytes())
    second_record = data.index(FRAME_MAGIC, data.index(FRAME_MAGIC, len(FILE_MAGIC) + 1) + 1)
    data[second_record + 4] ^= 0x80  # the length's high byte now points past the end
    archive_file.write_bytes(bytes(data))
    result = run_cli(
        "restore", "--url", redis_server.url, "--yes", "--format", "json", str(archive_file)
    )
    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["restored"] == len(KEYS) - 1
    (file_entry,) = document["files"]
    assert file_entry["torn_tail"] is False
    assert f"at byte {second_record}" in file_entry["damage"]
    client = redis_server.client(3)
    assert sum(client.dump(key) == payload for key, payload in payloads.items()) == len(KEYS) - 1
