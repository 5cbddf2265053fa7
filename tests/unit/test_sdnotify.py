"""The sd_notify datagram protocol, against a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from janitor.adapters.sdnotify import Notifier, notify_address, watchdog_interval
from tests.support.notify import NotifyListener


def test_address_forms() -> None:
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@abstract/name"}) == b"\0abstract/name"
    assert notify_address({}) is None
    assert notify_address({"NOTIFY_SOCKET": "relative"}) is None


def test_watchdog_interval_is_half_and_only_for_this_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, 42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, 42) is None
    assert watchdog_interval({}, 42) is None


def test_messages_reach_a_path_socket(tmp_path: Path) -> None:
    listener = NotifyListener(tmp_path / "notify.sock")
    notifier = Notifier({"NOTIFY_SOCKET": listener.env_value})
    try:
        assert notifier.ready("serving")
        assert notifier.watchdog()
        assert notifier.status("line one\nline two")
        assert notifier.stopping()
        listener.wait_until(lambda: len(listener.drain()) == 4, what="4 messages")
        assert listener.drain() == [
            "READY=1\nSTATUS=serving",
            "WATCHDOG=1",
            "STATUS=line one line two",
            "STOPPING=1",
        ]
    finally:
        notifier.close()
        listener.close()


def test_messages_reach_an_abstract_socket() -> None:
    listener = NotifyListener(f"janitor-test-{os.getpid()}-{uuid.uuid4().hex}")
    notifier = Notifier({"NOTIFY_SOCKET": listener.env_value})
    try:
        assert notifier.ready()
        listener.wait_until(lambda: listener.drain() == ["READY=1"], what="READY=1")
    finally:
        notifier.close()
        listener.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready()


def test_a_vanished_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert not notifier.watchdog()
