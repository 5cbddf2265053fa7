"""The rescue state file: durable originals, permissions, pending and complete records."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from janitor.adapters.files.rescue_record import (
    OriginalSettings,
    complete,
    instance_key,
    pending_restores,
    read_record,
    record_originals,
    state_file_name,
)
from janitor.core.errors import ConfigError

ORIGINAL = OriginalSettings(stop_writes_on_bgsave_error="yes", save="3600 1 300 100")


def test_originals_are_recorded_pending_in_a_private_file(tmp_path: Path) -> None:
    state_dir = tmp_path / "state" / "rescue"

    record = record_originals(state_dir, "127.0.0.1:6379", ORIGINAL, run_id="abc")

    path = state_dir / state_file_name("127.0.0.1:6379")
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert document["status"] == "pending"
    assert document["original"] == {
        "stop_writes_on_bgsave_error": "yes",
        "save": "3600 1 300 100",
    }
    assert read_record(state_dir, "127.0.0.1:6379") == record
    assert pending_restores(state_dir) == [record]
    assert [p.name for p in state_dir.iterdir()] == [path.name]  # no temp file left behind


def test_complete_records_are_no_longer_pending(tmp_path: Path) -> None:
    record = record_originals(tmp_path, "127.0.0.1:6379", ORIGINAL)

    done = complete(tmp_path, record)

    assert done.status == "complete"
    assert done.completed_at is not None
    assert pending_restores(tmp_path) == []
    assert read_record(tmp_path, "127.0.0.1:6379") == done


def test_pending_restores_skips_malformed_files_and_a_missing_dir(tmp_path: Path) -> None:
    assert pending_restores(tmp_path / "absent") == []
    record = record_originals(tmp_path, "unix:///run/redis.sock", ORIGINAL)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "partial.json").write_text('{"instance": "x"}')

    assert pending_restores(tmp_path) == [record]


def test_instance_key_ignores_db_and_credentials() -> None:
    assert instance_key("redis://:secret@127.0.0.1:6379/3") == "127.0.0.1:6379"
    assert instance_key("rediss://user:pw@cache.example.com:6380") == "cache.example.com:6380"
    assert instance_key("redis://localhost") == "localhost:6379"
    assert instance_key("redis://[::1]:6379") == "[::1]:6379"
    assert instance_key("unix:///run/redis/redis.sock?db=2") == "unix:///run/redis/redis.sock"


def test_state_file_names_are_safe_and_distinct() -> None:
    names = {
        state_file_name(key)
        for key in ("127.0.0.1:6379", "127.0.0.1_6379", "unix:///run/r.sock", "../../etc")
    }

    assert len(names) == 4
    assert all("/" not in name and not name.startswith(".") for name in names)
    assert all(name.endswith(".json") for name in names)


def test_unusable_state_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(ConfigError, match=r"rescue\.state_dir"):
        record_originals(blocker / "state", "127.0.0.1:6379", ORIGINAL)
