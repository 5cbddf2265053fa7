"""The worker (``redis-janitor serve``) under systemd: readiness, status and watchdog; SIGTERM
while acting; a watchdog timeout restarts it and the new worker finishes an interrupted rescue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from janitor.adapters.files.rescue_record import STATE_VERSION, state_file_name
from tests.system.machine import Machine, wait_until
from tests.system.units import drop_in, events, journal, redis_cli, show, wait_active, write_file

pytestmark = pytest.mark.system

WORKER = "redis-janitor-worker.service"
FAST_WATCHDOG = """[Service]
WatchdogSec=4s
TimeoutAbortSec=2s
RestartSec=1s
Environment=JANITOR_SERVICE__EVERY=1h
"""
SLOW_DELETES = """[Service]
Environment=JANITOR_SERVICE__EVERY=1h
Environment=JANITOR_POLICY__GOAL=all
Environment=JANITOR_POLICY__ACTIONS_PER_SECOND=5
Environment='JANITOR_POLICY__RULES=[{"name": "t", "match": ["systest:*"], "action": "delete"}]'
"""
KEYS = 100
RESCUE_DIR = "/var/lib/redis-janitor/rescue"
RECORD = f"{RESCUE_DIR}/{state_file_name('127.0.0.1:6379')}"


@pytest.fixture
def worker(machine: Machine) -> Iterator[Machine]:
    """Leaves the worker stopped, its failures reset and the test keys gone."""
    yield machine
    machine.run(["systemctl", "stop", WORKER], check=False)
    machine.run(["systemctl", "reset-failed", WORKER], check=False)
    redis_cli(machine, "FLUSHALL")  # the container's own Redis, started for this tier


def unit_journal(machine: Machine, invocation: str) -> list[dict[str, object]]:
    return journal(machine, f"_SYSTEMD_INVOCATION_ID={invocation}")


def test_worker_goes_active_with_status_and_feeds_the_watchdog(worker: Machine) -> None:
    with drop_in(worker, WORKER, FAST_WATCHDOG):
        worker.run(["systemctl", "start", WORKER])
        state = wait_active(worker, WORKER)
        first = int(state["WatchdogTimestampMonotonic"])

        def fed_twice() -> bool:
            now = show(worker, WORKER, "WatchdogTimestampMonotonic", "ActiveState")
            return now["ActiveState"] == "active" and (
                int(now["WatchdogTimestampMonotonic"]) >= first + 3_000_000
            )

        wait_until(fed_twice, "WATCHDOG=1 pings 2 s apart (WatchdogSec=4s)", timeout=20)
        status = show(worker, WORKER, "StatusText", "NRestarts", "SubState")
        assert status["StatusText"], status  # STATUS=: the schedule and the last cycle
        assert (status["NRestarts"], status["SubState"]) == ("0", "running")
        invocation = state["InvocationID"]
        worker.run(["systemctl", "stop", WORKER])
    after = show(worker, WORKER, "Result", "ExecMainStatus")
    assert after == {"Result": "success", "ExecMainStatus": "0"}
    assert events(unit_journal(worker, invocation), "service.ready")


def test_sigterm_while_acting_finishes_the_action_in_flight_and_exits_0(worker: Machine) -> None:
    arguments = [item for n in range(KEYS) for item in (f"systest:{n}", "x" * 100)]
    redis_cli(worker, "MSET", *arguments)
    with drop_in(worker, WORKER, SLOW_DELETES):
        worker.run(["systemctl", "start", WORKER])
        invocation = wait_active(worker, WORKER)["InvocationID"]
        wait_until(
            lambda: int(redis_cli(worker, "DBSIZE")) < KEYS - 2,
            "the worker to be deleting keys (5 a second)",
        )
        worker.run(["systemctl", "stop", WORKER])  # SIGTERM, then waits for the exit
    left = int(redis_cli(worker, "DBSIZE"))
    after = show(worker, WORKER, "Result", "ExecMainStatus")
    entries = unit_journal(worker, invocation)

    assert after == {"Result": "success", "ExecMainStatus": "0"}
    assert 0 < left < KEYS
    stopped = events(entries, "run.stopped_early")
    assert stopped and stopped[0]["skipped"] == left  # every key is either gone or not tried
    assert events(entries, "service.stopping")[0]["cycle_in_flight"] is True


def plant_interrupted_rescue(machine: Machine) -> None:
    """A rescue killed half-way: its pending record, and the write block it left lifted."""
    record = {
        "version": STATE_VERSION,
        "instance": "127.0.0.1:6379",
        "original": {"stop_writes_on_bgsave_error": "yes", "save": "3600 1 300 100 60 10000"},
        "status": "pending",
        "run_id": "systemtest",
        "started_at": time.time() - 60,
        "pid": 4_000_000,  # gone
        "completed_at": None,
    }
    write_file(machine, RECORD, json.dumps(record))
    machine.run(["chown", "-R", "redis:redis", RESCUE_DIR])
    machine.run(["chmod", "0700", RESCUE_DIR])
    machine.run(["chmod", "0600", RECORD])
    redis_cli(machine, "CONFIG", "SET", "stop-writes-on-bgsave-error", "no")


def test_watchdog_timeout_restarts_the_worker_which_finishes_an_interrupted_rescue(
    worker: Machine,
) -> None:
    with drop_in(worker, WORKER, FAST_WATCHDOG):
        worker.run(["systemctl", "start", WORKER])
        first = wait_active(worker, WORKER)
        wait_until(
            lambda: events(unit_journal(worker, first["InvocationID"]), "cycle.finished"),
            "the first cycle to finish",
        )
        plant_interrupted_rescue(worker)
        worker.run(["systemctl", "kill", "--kill-who=main", "--signal=SIGSTOP", WORKER])  # hangs

        def restarted() -> dict[str, str] | None:
            state = show(worker, WORKER, "NRestarts", "MainPID", "ActiveState", "SubState")
            moved = state["MainPID"] not in ("0", first["MainPID"])
            ok = int(state["NRestarts"]) >= 1 and moved and state["SubState"] == "running"
            return state if ok else None

        wait_until(restarted, "systemd to restart the worker after the watchdog timeout", 60)
        messages = [str(e.get("MESSAGE")) for e in journal(worker, "-u", WORKER)]
        assert any("Watchdog timeout" in message for message in messages), messages[-10:]

        wait_until(
            lambda: (
                redis_cli(worker, "CONFIG", "GET", "stop-writes-on-bgsave-error").split()[-1]
                == "yes"
            ),
            "the restarted worker to put stop-writes-on-bgsave-error back",
            timeout=60,
        )
    record = json.loads(
        worker.run(["cat", f"{RESCUE_DIR}/planted.json"], check=False).stdout or "{}"
    )
    assert record.get("status", "complete") == "complete"
