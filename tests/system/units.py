"""Helpers to look at systemd units, the journal and Redis inside the booted machine."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from tests.system.machine import Machine, wait_until

PASSWORD_FILE = "/etc/redis-janitor/redis-password"
JANITOR = "/opt/redis-janitor/bin/redis-janitor"


def show(machine: Machine, unit: str, *properties: str) -> dict[str, str]:
    """``systemctl show`` properties of ``unit`` as a dict."""
    output = machine.run(["systemctl", "show", unit, *(f"--property={p}" for p in properties)])
    return dict(line.split("=", 1) for line in output.stdout.splitlines() if "=" in line)


def journal(machine: Machine, *matches: str, priority: str | None = None) -> list[dict[str, Any]]:
    """Journal entries (``journalctl -o json``) for ``matches`` (``FIELD=value`` or ``-u UNIT``)."""
    command = ["journalctl", "--no-pager", "-o", "json", *matches]
    if priority:
        command += ["-p", priority]
    output = machine.run(command, check=False).stdout
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def events(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The janitor's JSON log events called ``name`` among journal entries."""
    found = []
    for entry in entries:
        message = entry.get("MESSAGE")
        if isinstance(message, str) and message.startswith("{"):
            with contextlib.suppress(ValueError):
                event = json.loads(message)
                if event.get("event") == name:
                    found.append(event)
    return found


def redis_cli(machine: Machine, *args: str) -> str:
    """Run redis-cli against the machine's Redis with the password README installed."""
    password = machine.run(["head", "-n", "1", PASSWORD_FILE]).stdout.strip()
    command = ["redis-cli", "--no-auth-warning", "-a", password, *args]
    return machine.run(command).stdout.strip()


def write_file(machine: Machine, path: str, text: str) -> None:
    """Create ``path`` (and its directory) with ``text`` inside the machine."""
    machine.run(["sh", "-ec", f'mkdir -p "$(dirname {path})" && cat > {path}'], input_text=text)


@contextlib.contextmanager
def drop_in(machine: Machine, unit: str, text: str) -> Iterator[None]:
    """A test drop-in for ``unit`` while the block runs (daemon-reload on the way in and out)."""
    path = f"/etc/systemd/system/{unit}.d/zz-system-test.conf"
    write_file(machine, path, text)
    machine.run(["systemctl", "daemon-reload"])
    try:
        yield
    finally:
        machine.run(["rm", "-f", path])
        machine.run(["systemctl", "daemon-reload"])


def start_oneshot(machine: Machine, unit: str) -> dict[str, str]:
    """Start a one-shot unit, wait for it to finish, and return its result properties."""
    machine.run(["systemctl", "reset-failed", unit], check=False)
    machine.run(["systemctl", "start", unit], check=False, timeout=300)
    return show(machine, unit, "Result", "ExecMainStatus", "InvocationID", "ActiveState")


def wait_active(machine: Machine, unit: str, timeout: float = 60) -> dict[str, str]:
    """Wait for ``unit`` to be active (running) and return its state."""

    def running() -> dict[str, str] | None:
        state = show(machine, unit, "ActiveState", "SubState", "MainPID", "StatusText",
                     "NRestarts", "WatchdogTimestampMonotonic", "InvocationID")  # fmt: skip
        return state if (state["ActiveState"], state["SubState"]) == ("active", "running") else None

    return wait_until(running, f"{unit} to be active (running)", timeout)  # type: ignore[return-value]
