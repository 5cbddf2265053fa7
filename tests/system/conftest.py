"""The system tier: one Debian 12 container booted with systemd for the whole session.

Collected by the plain ``python -m pytest``; it runs only where it can (root, systemd-nspawn,
debootstrap, nsenter, overlayfs) and otherwise skips saying exactly what is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.install import start_machine
from tests.system.machine import Machine

PROJECT = Path(__file__).parents[2]
TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "nsenter": "util-linux",
    "mount": "mount",
}
_tier: dict[str, float] = {}


def unavailable_reason() -> str | None:
    """Why this machine cannot run the system tier, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "the system tier boots a Linux container (systemd-nspawn); this is not Linux"
    if os.geteuid() != 0:
        return "the system tier needs root (debootstrap, overlay mounts, systemd-nspawn)"
    missing = [f"{tool} (apt-get install {package})" for tool, package in TOOLS.items()
               if shutil.which(tool) is None]  # fmt: skip
    if missing:
        return "the system tier needs " + ", ".join(missing) + "; .ci/run installs them"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the system tier needs overlayfs (modprobe overlay)"
    return None


@pytest.fixture(scope="session")
def machine() -> Iterator[Machine]:
    """The booted container with redis-server and the project installed as README says."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="redis-janitor-system-", dir="/var/tmp"))
    log_path = Path(tempfile.gettempdir()) / f"redis-janitor-system-{os.getpid()}.log"
    booted = start_machine(PROJECT, workdir, log_path)
    _tier.update({f"{name}_seconds": value for name, value in booted.timings.items()})
    try:
        yield booted
    finally:
        booted.stop()
        booted.unmount()
        _tier["total_seconds"] = time.monotonic() - started


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the tier's run time (and where it went)."""
    if "total_seconds" in _tier:
        parts = ", ".join(f"{name[:-8]} {value:.1f}s" for name, value in sorted(_tier.items()))
        terminalreporter.write_line(f"system tier run time: {parts}")
