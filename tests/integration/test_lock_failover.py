"""A lock token of this process left behind by a failover is taken over; anyone else's is not."""

from __future__ import annotations

import os
import socket

import pytest

from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.lock import LOCK_KEY, RedisLock
from janitor.config.settings import load_settings
from janitor.core.errors import LockHeldError
from tests.support.redis_server import RedisServer


def test_own_leftover_token_is_taken_over(redis_server: RedisServer) -> None:
    settings = load_settings(None, {"redis": {"urls": [redis_server.url]}}, environ={})
    leftover = f"{socket.gethostname()}:{os.getpid()}:0123abcd".encode()
    redis_server.client().set(LOCK_KEY, leftover, px=60_000)  # replicated, its DEL was not
    lock = RedisLock(RedisTarget(redis_server.url, settings), 60)
    assert lock.acquire()
    assert redis_server.client().get(LOCK_KEY) == lock.token
    with pytest.raises(LockHeldError):  # held by this process now: a second run is refused
        RedisLock(RedisTarget(redis_server.url, settings), 60).acquire()
    lock.release()
    assert redis_server.client().exists(LOCK_KEY) == 0


@pytest.mark.parametrize("holder", [b"other-host:%d:0123abcd", b"%s:1:0123abcd"])
def test_other_holders_are_respected(redis_server: RedisServer, holder: bytes) -> None:
    settings = load_settings(None, {"redis": {"urls": [redis_server.url]}}, environ={})
    value = (
        holder % (os.getpid(),) if b"other" in holder else holder % socket.gethostname().encode()
    )
    redis_server.client().set(LOCK_KEY, value, px=60_000)
    with pytest.raises(LockHeldError):
        RedisLock(RedisTarget(redis_server.url, settings), 60).acquire()
    assert redis_server.client().get(LOCK_KEY) == value
