"""The [scan] settings that drive the scanner's speed and its server-CPU budget."""

from __future__ import annotations

import pytest

from janitor.errors import ConfigError
from janitor.scanner import ScanOptions
from janitor.settings import load_settings


def options(**scan: object) -> ScanOptions:
    return ScanOptions.from_settings(load_settings(None, overrides={"scan": scan}, environ={}).scan)


def test_default_budget_is_a_fifth_of_the_main_thread() -> None:
    assert options().max_server_cpu == 0.2


def test_budget_of_one_means_no_cap() -> None:
    assert options(max_server_cpu=1).max_server_cpu is None
    assert options(max_server_cpu=0.05).max_server_cpu == 0.05


def test_budget_from_the_environment() -> None:
    settings = load_settings(None, environ={"JANITOR_SCAN__MAX_SERVER_CPU": "0.1"})
    assert ScanOptions.from_settings(settings.scan).max_server_cpu == 0.1


@pytest.mark.parametrize("bad", [0, -0.1, 1.5])
def test_budget_outside_zero_to_one_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError, match="max_server_cpu"):
        options(max_server_cpu=bad)
