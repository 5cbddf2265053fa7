"""The [scan] settings that drive the scanner's speed and its server-CPU budget."""

from __future__ import annotations

import gc

import pytest

from janitor.adapters.redis.scanner import ScanOptions, cyclic_gc_paused
from janitor.config.settings import load_settings
from janitor.core.errors import ConfigError


def options(**scan: object) -> ScanOptions:
    return ScanOptions.from_settings(load_settings(None, overrides={"scan": scan}, environ={}).scan)


def test_defaults_hold_a_share_of_the_main_thread_in_short_requests_niced() -> None:
    """Chosen from bench/latency.py (README "Gentle by default")."""
    default = options()
    assert default.max_server_cpu == 0.4
    assert default.max_batch_server_time == 25e-6
    assert load_settings(None, environ={}).scan.nice == 10


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


def fail_while_paused() -> None:
    with cyclic_gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("scan failed")


def test_gc_pause_restores_the_collector_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="scan failed"):
        fail_while_paused()
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled(), "a collector that was off stays off"
    finally:
        gc.enable()


def test_overlapping_pauses_keep_the_collector_off_until_the_last_ends() -> None:
    """Scans side by side (one per thread) share the process-wide collector."""
    assert gc.isenabled()
    first, second = cyclic_gc_paused(), cyclic_gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled(), "the second scan still runs"
    second.__exit__(None, None, None)
    assert gc.isenabled()
