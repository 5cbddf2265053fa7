"""No write made after a key was judged is lost, under LRU and LFU, for every action."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.support.writer_trial import run_trial


@pytest.mark.parametrize("lfu", [False, True], ids=["lru", "lfu"])
@pytest.mark.parametrize("action", ["delete", "expire", "archive"])
def test_every_write_after_judgment_survives(
    redis_server: RedisServer, tmp_path: Path, action: str, lfu: bool
) -> None:
    trial = run_trial(redis_server, action, tmp_path / "archive", lfu=lfu)
    assert trial.writes == 12
    assert trial.lost == []


def test_without_the_safety_copy_lfu_deletes_lose_writes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The trial can fail: with the LFU safety copy off, overwritten keys are deleted."""
    trial = run_trial(redis_server, "delete", tmp_path / "archive", lfu=True, lfu_safety_copy=False)
    assert trial.lost
