"""The host-wide pacer of the janitor's own CPU (pure, fake clocks)."""

from __future__ import annotations

import pytest

from janitor.domain.client_budget import ClientCpuPacer


def test_cpu_over_the_budget_is_paid_back_in_sleep() -> None:
    pacer = ClientCpuPacer(0.5)
    assert pacer.delay(now=100.0, cpu_seconds=10.0) == 0.0
    # 1 s of CPU after 1 s of wall: at half a core it may only have used 0.5 s.
    assert pacer.delay(now=101.0, cpu_seconds=11.0) == pytest.approx(1.0)
    assert pacer.delay(now=102.0, cpu_seconds=11.0) == 0.0


def test_a_full_core_budget_never_pauses_a_single_threaded_scan() -> None:
    pacer = ClientCpuPacer(1.0)
    pacer.delay(0.0, 0.0)
    assert pacer.delay(5.0, 4.9) == 0.0


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ClientCpuPacer(0)
