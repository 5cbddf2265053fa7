"""On Redis < 7.2 an archive that did not complete does not make the key look fresh next run."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.adapters.files.touch_memory import TouchMemory
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.key_actions import ActionHooks
from janitor.app.instance_pass import PassOptions, run_pass
from janitor.config.settings import Settings, load_settings
from janitor.domain.planner import PlannedAction
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

DAY = 86400


class CrashError(Exception):
    """Stands in for the process dying after the DUMP, before the UNLINK."""


def crash(_: PlannedAction) -> None:
    raise CrashError


def settings_for(server: RedisServer, tmp_path: Path) -> Settings:
    overrides = {
        "redis": {"urls": [server.url]},
        "archive": {"dir": str(tmp_path / "archive")},
        "policy": {
            "goal": "all",
            "settle_timeout": 2,
            "rules": [{"name": "stale", "min_idle": "30d", "action": "archive"}],
        },
    }
    return load_settings(None, overrides=overrides, environ={})


@pytest.mark.parametrize("remember", [True, False], ids=["remembered", "forgotten"])
def test_an_interrupted_archive_is_retried_next_run_only_with_the_memory(
    redis_server: RedisServer, tmp_path: Path, remember: bool
) -> None:
    if read_server_info(redis_server.client()).supports(7, 2):
        pytest.skip("CLIENT NO-TOUCH (Redis >= 7.2): the DUMP does not touch the key")
    plant(redis_server.client(), b"old", size=5000, idle_seconds=40 * DAY)
    settings = settings_for(redis_server, tmp_path)
    target = RedisTarget(redis_server.url, settings)
    path = tmp_path / "state" / "touches" / "x.jsonl"
    first = PassOptions(False, "r1", hooks=ActionHooks(before_unlink=crash))
    first.touches = TouchMemory(path)
    with pytest.raises(CrashError):
        run_pass(target, settings, first)
    assert redis_server.client().object("idletime", b"old") < 5  # the DUMP touched it
    second = PassOptions(False, "r2", touches=TouchMemory(path) if remember else None)
    result = run_pass(target, settings, second)
    if remember:
        assert result.count("done") == 1
        assert redis_server.client().exists(b"old") == 0
        assert not path.exists()
    else:
        assert result.plan.actions == []
        assert redis_server.client().exists(b"old") == 1
