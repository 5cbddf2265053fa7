"""Where lock files live, and that their names never carry a password."""

from __future__ import annotations

from pathlib import Path

from janitor.adapters.redis.connection import mask_url
from janitor.adapters.redis.lock import LOCK_KEY, acl_check_key, default_lock_dir, lock_file_name
from janitor.config.settings import load_settings
from janitor.domain.topology import key_slot


def test_systemd_state_directory_is_used_first_entry() -> None:
    settings = load_settings(None, {}, environ={})
    environ = {"STATE_DIRECTORY": "/var/lib/redis-janitor:/var/lib/redis-janitor/archive"}
    assert default_lock_dir(settings, environ) == Path("/var/lib/redis-janitor/locks")


def test_configured_state_dir_wins(tmp_path: Path) -> None:
    settings = load_settings(None, {"service": {"state_dir": str(tmp_path)}}, environ={})
    assert default_lock_dir(settings, {"STATE_DIRECTORY": "/elsewhere"}) == tmp_path / "locks"


def test_lock_file_names_are_per_instance_and_masked() -> None:
    first = lock_file_name(mask_url("redis://:s3cret@10.0.0.5:6379"))
    second = lock_file_name(mask_url("redis://:s3cret@10.0.0.5:6380"))
    assert first != second
    assert "s3cret" not in first
    assert first.startswith("10.0.0.5_6379-") and first.endswith(".lock")
    assert "/" not in lock_file_name("unix:///run/redis/redis.sock")


def test_the_acl_check_key_shares_the_lock_keys_slot() -> None:
    """The check script touches both keys: on a cluster node they must hash to one slot, also
    when the node owns no slot right after a failover (the lock key then has no hash tag)."""
    for key in (LOCK_KEY, LOCK_KEY + b":{3}"):
        checked = acl_check_key(key)
        assert checked != key
        assert key_slot(checked) == key_slot(key)
