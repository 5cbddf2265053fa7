"""Exact fork figures under Debian's stock redis-server unit plus what README installs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.system.machine import Machine
from tests.system.units import JANITOR, drop_in, start_oneshot

pytestmark = pytest.mark.system

HEADROOM_OUT = "/run/system-test-headroom.json"
AS_HEADROOM = f"""[Service]
ExecStart=
ExecStart={JANITOR} headroom --format json --config /etc/redis-janitor/janitor.toml
StandardOutput=truncate:{HEADROOM_OUT}
StandardError=journal
SuccessExitStatus=1 2
"""
DROP_IN = "/etc/systemd/system/redis-server.service.d/redis-janitor.conf"
# Σ Size of the mappings whose VmFlags hold "ac" and not "dc", read by root, independently.
CHARGE_AWK = (
    "awk '/^Size:/ {size = $2} /^VmFlags:/ { if ($0 ~ / ac( |$)/ && $0 !~ / dc( |$)/) "
    "total += size } END {print total * 1024}' /proc/$(pidof redis-server)/smaps"
)


def headroom_in_the_unit(machine: Machine) -> dict[str, Any]:
    """``redis-janitor headroom`` run by redis-janitor.service itself (its user and sandbox)."""
    with drop_in(machine, "redis-janitor.service", AS_HEADROOM):
        result = start_oneshot(machine, "redis-janitor.service")
    assert result["Result"] == "success", result
    document: dict[str, Any] = json.loads(machine.run(["cat", HEADROOM_OUT]).stdout)
    instance: dict[str, Any] = document["instances"][0]
    return instance


def test_stock_unit_keeps_its_private_user_namespace_and_readme_drops_it(machine: Machine) -> None:
    stock = machine.run(["cat", "/lib/systemd/system/redis-server.service"]).stdout
    assert "PrivateUsers=true" in stock or "PrivateUsers=yes" in stock  # Debian's own unit
    installed = machine.run(["systemctl", "show", "-p", "PrivateUsers,DropInPaths", "redis-server"])
    assert "PrivateUsers=no" in installed.stdout and DROP_IN in installed.stdout


def test_headroom_in_the_janitor_unit_is_exact(machine: Machine) -> None:
    instance = headroom_in_the_unit(machine)
    charge_by_root = int(machine.sh(CHARGE_AWK).stdout)

    assert instance["estimated"] is False, instance["reasons"]
    assert instance["local"] is True
    assert instance["pid"] == int(machine.run(["pidof", "redis-server"]).stdout)
    assert abs(instance["fork_charge_bytes"] - charge_by_root) <= 256 * 1024  # an idle server
    assert instance["fork_charge_bytes"] > 0


def test_without_the_drop_in_the_reason_names_the_private_user_namespace(machine: Machine) -> None:
    machine.run(["mv", DROP_IN, "/root/redis-janitor.conf.off"])
    machine.run(["systemctl", "daemon-reload"])
    machine.run(["systemctl", "restart", "redis-server"])
    try:
        instance = headroom_in_the_unit(machine)
    finally:
        machine.run(["mv", "/root/redis-janitor.conf.off", DROP_IN])
        machine.run(["systemctl", "daemon-reload"])
        machine.run(["systemctl", "restart", "redis-server"])

    assert instance["estimated"] is True
    reason = instance["reasons"][0]
    assert "hidepid=invisible" in reason and "PrivateUsers=yes" in reason, reason
    assert "redis-server.service.d/redis-janitor.conf (PrivateUsers=no)" in reason
    assert "another host" not in reason
