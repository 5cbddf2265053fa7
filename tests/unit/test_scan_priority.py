"""The scan's lowered CPU priority: only the scanning thread, by the steps asked, restored after."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from janitor.adapters.host.priority import MAX_NICE, lowered_priority


def _own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _in_thread(body: Callable[[], None]) -> None:
    """Run ``body`` in a fresh thread (so this test's own thread keeps its priority)."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            body()
        except BaseException as error:  # re-raised in the test's thread
            failures.append(error)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if failures:
        raise failures[0]


def test_the_scanning_thread_is_niced_by_the_steps_and_others_are_not() -> None:
    main_before = _own_nice()

    def body() -> None:
        before = _own_nice()
        with lowered_priority(5) as during:
            assert during == min(MAX_NICE, before + 5)
            assert _own_nice() == during
            assert _own_nice() != before or before == MAX_NICE
            assert _own_nice_of_main() == main_before  # the process's other threads keep theirs

    main_thread = threading.get_native_id()

    def _own_nice_of_main() -> int:
        return os.getpriority(os.PRIO_PROCESS, main_thread)

    _in_thread(body)
    assert _own_nice() == main_before


@pytest.mark.skipif(os.geteuid() != 0, reason="restoring a higher priority needs CAP_SYS_NICE")
def test_the_priority_comes_back_after_the_scan() -> None:
    def body() -> None:
        before = _own_nice()
        with lowered_priority(3):
            pass
        assert _own_nice() == before

    _in_thread(body)


def test_zero_steps_and_the_ceiling_leave_the_thread_alone() -> None:
    def body() -> None:
        before = _own_nice()
        with lowered_priority(0) as during:
            assert during == before
            assert _own_nice() == before
        with lowered_priority(100) as during:
            assert during == MAX_NICE
            with lowered_priority(4) as nested:  # already at the floor: nothing more to give
                assert nested == MAX_NICE

    _in_thread(body)
