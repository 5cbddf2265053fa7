"""Dirty-page windows of a real redis-server the suite starts (soft-dirty bits of its heap)."""

from __future__ import annotations

import random

import pytest
import redis

from janitor.adapters.host.dirty_pages import DirtyPageWindows, probe_soft_dirty
from janitor.adapters.redis.connection import RedisTarget
from janitor.app.headroom import measure_headroom
from janitor.config.settings import load_settings
from tests.conftest import RedisFactory

KEYS = 50_000
UNSUPPORTED = probe_soft_dirty()


class Clock:
    """The windows' clock, moved by the test (a window needs a second to be read)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def overwrite(client: redis.Redis, count: int) -> None:
    pipe = client.pipeline(transaction=False)
    for _ in range(count):
        pipe.set(f"key:{random.randrange(KEYS)}", b"w" * 400)
    pipe.execute()


@pytest.mark.skipif(UNSUPPORTED is not None, reason=f"no soft-dirty bits: {UNSUPPORTED}")
def test_soft_dirty_pages_of_redis_grow_with_the_writes_in_the_window(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory({"enable-debug-command": "yes"})
    client = server.client()
    client.execute_command("DEBUG", "POPULATE", KEYS, "key", 400)
    pid = int(client.info("server")["process_id"])
    clock = Clock()
    windows = DirtyPageWindows(clock=clock)
    assert windows.measure(pid, client.info())[0] is None  # opened
    overwrite(client, 100)
    clock.now += 2
    few, _ = windows.measure(pid, client.info())
    overwrite(client, 20_000)
    clock.now += 2
    many, note = windows.measure(pid, client.info())
    assert few is not None and many is not None
    assert few.writes == 100 and many.writes == 20_000
    assert 0 < few.pages < many.pages
    assert many.pages > 1_000  # 20,000 random overwrites of 50,000 keys scatter over the heap
    assert note == f"read: {many.pages} pages over 2 s"


def test_headroom_says_what_became_of_the_dirty_page_window(redis_factory: RedisFactory) -> None:
    server = redis_factory()
    settings = load_settings(None, {"redis": {"urls": [server.url]}}, {})
    target = RedisTarget(server.url, settings)
    clock = Clock()
    windows = DirtyPageWindows(clock=clock)
    first = measure_headroom([target], settings, windows).to_dict()["instances"][0]
    overwrite(server.client(), 500)
    clock.now += 5
    second = measure_headroom([target], settings, windows).to_dict()["instances"][0]
    plain = measure_headroom([target], settings).to_dict()["instances"][0]
    assert first["local"] is True
    if UNSUPPORTED is not None:
        expected = (f"dirty-page window: {UNSUPPORTED}",) * 2
    else:
        expected = (
            "dirty-page window: opened now, read at the next measurement",
            "dirty-page window: not used before a save was observed",
        )
    assert expected[0] in first["cow_model"]["reasons"]
    assert expected[1] in second["cow_model"]["reasons"]
    assert not any("dirty-page" in reason for reason in plain["cow_model"]["reasons"])
