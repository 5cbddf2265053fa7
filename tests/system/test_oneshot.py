"""The timer and the one-shot unit: it fires, the credential arrives, failures reach the journal
once at a warning-or-worse priority."""

from __future__ import annotations

import pytest

from tests.system.machine import Machine, wait_until
from tests.system.units import drop_in, journal, show, start_oneshot

pytestmark = pytest.mark.system

FIRE_NOW = """[Timer]
OnCalendar=
OnActiveSec=1s
RandomizedDelaySec=0
"""


def janitor_lines(machine: Machine, invocation: str, priority: str | None = None) -> list[str]:
    """What the janitor process itself wrote to the journal in one invocation."""
    entries = journal(machine, f"_SYSTEMD_INVOCATION_ID={invocation}", priority=priority)
    return [str(entry.get("MESSAGE")) for entry in entries]


def test_readme_enabled_the_timer(machine: Machine) -> None:
    state = show(machine, "redis-janitor.timer", "UnitFileState", "ActiveState")
    assert state == {"UnitFileState": "enabled", "ActiveState": "active"}


def test_timer_fires_the_oneshot_which_authenticates_with_the_credential(
    machine: Machine,
) -> None:
    before = show(machine, "redis-janitor.service", "ExecMainExitTimestampMonotonic")
    with drop_in(machine, "redis-janitor.timer", FIRE_NOW):
        machine.run(["systemctl", "restart", "redis-janitor.timer"])

        def finished() -> dict[str, str] | None:
            state = show(machine, "redis-janitor.service", "ExecMainExitTimestampMonotonic",
                         "Result", "ExecMainStatus", "InvocationID", "ActiveState")  # fmt: skip
            changed = (
                state["ExecMainExitTimestampMonotonic"]
                != (before["ExecMainExitTimestampMonotonic"])
            )
            return state if changed and state["ActiveState"] != "activating" else None

        result = wait_until(finished, "the timer to run redis-janitor.service", timeout=120)
    machine.run(["systemctl", "stop", "redis-janitor.timer"])  # no more cycles during the tier
    assert isinstance(result, dict)
    assert (result["Result"], result["ExecMainStatus"]) == ("success", "0"), result
    assert (
        show(machine, "redis-janitor.timer", "LastTriggerUSecMonotonic")["LastTriggerUSecMonotonic"]
        != "0"
    )
    lines = janitor_lines(machine, result["InvocationID"])
    assert any('"event": "run.instance_finished"' in line for line in lines), lines[-5:]
    assert machine.run(
        ["stat", "-c", "%a", "/etc/redis-janitor/redis-password"]
    ).stdout.strip() == ("600")


def test_without_the_credential_the_run_exits_77_and_says_so_once(machine: Machine) -> None:
    with drop_in(machine, "redis-janitor.service", "[Service]\nLoadCredential=\n"):
        result = start_oneshot(machine, "redis-janitor.service")
    assert result["ExecMainStatus"] == "77", result

    failures = janitor_lines(machine, result["InvocationID"], priority="warning")
    assert len(failures) == 1, failures
    assert "auth" in failures[0].lower() or "password" in failures[0].lower(), failures
    plain_at_info = [line for line in janitor_lines(machine, result["InvocationID"])
                     if line.startswith("redis-janitor:") and line not in failures]  # fmt: skip
    assert plain_at_info == []


def test_a_configuration_error_reaches_the_journal_once_as_an_error(machine: Machine) -> None:
    with drop_in(
        machine, "redis-janitor.service", "[Service]\nEnvironment=JANITOR_SCAN__COUNT=many\n"
    ):
        result = start_oneshot(machine, "redis-janitor.service")
    assert result["ExecMainStatus"] == "78", result

    entries = journal(
        machine, f"_SYSTEMD_INVOCATION_ID={result['InvocationID']}", priority="warning"
    )
    assert len(entries) == 1, [entry.get("MESSAGE") for entry in entries]
    assert entries[0]["PRIORITY"] == "3"
    assert (
        "invalid configuration" in entries[0]["MESSAGE"] and "scan.count" in entries[0]["MESSAGE"]
    )
