"""The unit files verify cleanly, stay hardened (exposure ≤ 3.0) and keep their contract."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).parents[2] / "systemd"
INSTALLED_PATH = "/opt/redis-janitor/bin/redis-janitor"
SERVICES = ["redis-janitor.service", "redis-janitor-worker.service"]
UNITS = [*SERVICES, "redis-janitor.timer"]
MAX_EXPOSURE = 3.0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "systemd-analyze"


def settings_of(unit: str) -> dict[str, list[str]]:
    """``Key → [values]`` of a unit file (comments and sections ignored)."""
    found: dict[str, list[str]] = {}
    for line in (SYSTEMD_DIR / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def installed_units(tmp_path: Path) -> Path:
    """The units copied to a temp dir, ExecStart pointing at the installed script."""
    script = str(Path(sys.executable).with_name("redis-janitor"))
    for unit in UNITS:
        text = (SYSTEMD_DIR / unit).read_text().replace(INSTALLED_PATH, script)
        (tmp_path / unit).write_text(text)
    return tmp_path


def test_units_pass_systemd_analyze_verify(installed_units: Path) -> None:
    paths = [str(installed_units / unit) for unit in UNITS]
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *paths], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # not even a warning


@pytest.mark.parametrize("unit", SERVICES)
def test_exposure_is_at_most_three(installed_units: Path, unit: str) -> None:
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(installed_units / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert score, result.stdout + result.stderr
    assert float(score.group(1)) <= MAX_EXPOSURE


def test_oneshot_service_contract() -> None:
    unit = settings_of("redis-janitor.service")
    assert unit["Type"] == ["oneshot"]
    assert unit["ExecStart"][0].split()[1:3] == ["run", "--yes"]
    assert "/etc/redis-janitor/janitor.toml" in unit["ExecStart"][0]
    assert unit["SuccessExitStatus"] == ["75"]  # locked by another run is not a failure


def test_worker_service_contract() -> None:
    unit = settings_of("redis-janitor-worker.service")
    assert unit["Type"] == ["notify"]
    assert unit["ExecStart"][0].split()[1] == "serve"
    assert unit["WatchdogSec"]
    assert unit["Restart"] == ["on-failure"]
    assert set(unit["RestartPreventExitStatus"][0].split()) == {"64", "78"}


@pytest.mark.parametrize("unit_name", SERVICES)
def test_services_can_do_their_job(unit_name: str) -> None:
    unit = settings_of(unit_name)
    assert unit["User"] == ["redis"]  # same uid as redis-server: /proc/<pid>/smaps is readable
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["StateDirectory"] == ["redis-janitor redis-janitor/archive"]
    assert unit["LoadCredential"] == ["redis-password:/etc/redis-janitor/redis-password"]
    assert "ProcSubset" not in unit  # /proc/meminfo and /proc/sys/vm must stay visible
    assert unit["ProtectProc"] == ["invisible"]  # redis-server (same user) stays visible


def test_timer_contract() -> None:
    timer = settings_of("redis-janitor.timer")
    assert timer["OnCalendar"]
    assert timer["RandomizedDelaySec"]
    assert timer["Persistent"] == ["true"]


def test_sysusers_snippet_parses(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers") or "systemd-sysusers"
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        [
            sysusers,
            "--dry-run",
            f"--root={tmp_path}",
            str(SYSTEMD_DIR / "redis-janitor.sysusers.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Creating user 'redis'" in result.stdout + result.stderr
