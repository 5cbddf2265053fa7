"""Side-by-side workers: the shared CPU pacer in scan progress, turns in target order, the stop."""

from __future__ import annotations

import contextvars
import time

import pytest

from janitor.app.parallel import (
    SharedLoop,
    Slot,
    StopRequested,
    enter_slot,
    interrupted,
    note_changes,
    paced,
    stop_reason,
    wait_for_turn,
)
from janitor.domain.client_budget import ClientCpuPacer


def in_slot(loop: SharedLoop, index: int, call: object) -> object:
    """Run ``call`` as worker ``index`` of ``loop`` (in its own context, as the loop does)."""

    def worker() -> object:
        enter_slot(Slot(loop, index))
        return call()  # type: ignore[operator]

    return contextvars.copy_context().run(worker)


def test_outside_a_loop_everything_is_a_no_op() -> None:
    def progress(done: int, total: int) -> None:
        return None

    assert paced(progress) is progress and paced(None) is None
    assert wait_for_turn() is False and stop_reason() is None
    note_changes()  # nothing to note


def test_scan_progress_sleeps_as_the_shared_pacer_says() -> None:
    slept: list[float] = []
    loop = SharedLoop(2, ClientCpuPacer(0.01), sleep=slept.append)
    seen: list[tuple[int, int]] = []

    def scan() -> None:
        update = paced(lambda done, total: seen.append((done, total)))
        assert update is not None
        update(10, 100)  # the pacer's first reading: no pause
        spent = time.process_time()
        while time.process_time() - spent < 0.02:  # burn CPU: 20 ms at 0.01 cores is ~2 s
            pass
        update(20, 100)

    in_slot(loop, 1, scan)
    assert seen == [(10, 100), (20, 100)]
    assert slept[0] == 0 and slept[1] > 1.0


def test_a_turn_comes_after_every_earlier_worker_and_says_if_one_acted() -> None:
    loop = SharedLoop(3, ClientCpuPacer(1.0))
    loop.finished[0].set()
    loop.finished[1].set()
    assert in_slot(loop, 2, wait_for_turn) is False
    in_slot(loop, 0, note_changes)
    assert in_slot(loop, 2, wait_for_turn) is True
    assert in_slot(loop, 0, wait_for_turn) is False  # the first has no one to wait for


def test_a_stopped_loop_ends_waiting_turns_and_scans() -> None:
    loop = SharedLoop(2, ClientCpuPacer(1.0))
    loop.request_stop("stop requested (SIGTERM)", interrupted=True)
    loop.request_stop("later reason")
    with pytest.raises(StopRequested):
        in_slot(loop, 1, wait_for_turn)  # worker 0 never finished: the stop ends the wait
    update = in_slot(loop, 0, lambda: paced(None))
    with pytest.raises(StopRequested):
        update(1, 2)  # type: ignore[operator]
    assert in_slot(loop, 0, stop_reason) == "stop requested (SIGTERM)"
    assert in_slot(loop, 0, interrupted) is True  # a rescue in progress puts settings back
    calm = SharedLoop(1, ClientCpuPacer(1.0))
    calm.request_stop("another instance's work failed")
    assert in_slot(calm, 0, interrupted) is False
