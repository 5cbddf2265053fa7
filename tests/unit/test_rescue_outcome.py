"""The rescue outcome's exit code, JSON and remaining advice; SIGTERM handling."""

from __future__ import annotations

import os
import signal

import pytest

from janitor.app.rescue.outcome import RescueOutcome, remaining_advice, summary_lines
from janitor.app.rescue.steps import RescueInterruptedError, SigtermGuard


def outcome(**fields: object) -> RescueOutcome:
    base = RescueOutcome("redis://h:6379", False, True, {"writes_refused": True})
    for name, value in fields.items():
        setattr(base, name, value)
    return base


def test_exit_0_only_when_saved_restored_and_accepting_writes() -> None:
    good = {"bgsave_status": "ok", "config_restored": True, "misconf_after": False}

    assert outcome(**good).exit_code == 0
    assert outcome(**{**good, "bgsave_status": "err"}).exit_code == 2
    assert outcome(**{**good, "bgsave_status": "skipped"}).exit_code == 2
    assert outcome(**{**good, "config_restored": False}).exit_code == 2
    assert outcome(**{**good, "misconf_after": True}).exit_code == 2
    assert outcome(**{**good, "misconf_after": None}).exit_code == 2
    assert outcome(**{**good, "interrupted": True}).exit_code == 2
    assert outcome(**{**good, "error": "boom"}).exit_code == 2


def test_json_carries_the_contract_fields() -> None:
    document = outcome(bgsave_status="ok", misconf_after=False, freed_bytes=10).to_dict()

    for name in ("misconf_before", "misconf_after", "bgsave_status", "config_restored"):
        assert name in document
    assert document["freed_bytes"] == 10
    assert document["exit_code"] == 0


def test_advice_says_what_remains() -> None:
    short = outcome(headroom_ok=False, config_restored=False, interrupted=True)
    short.original_settings = {"stop_writes_on_bgsave_error": "yes", "save": "3600 1"}

    advice = remaining_advice(short, "fix it", 5_000_000)

    assert "about 4.8 MiB more: 5000000 bytes" in advice[0]
    assert "could NOT be put back" in advice[1]
    assert "'yes'" in advice[1]
    assert "SIGTERM" in advice[2]
    assert remaining_advice(outcome(bgsave_status="err"), "fix it", None) == [
        "the rescue's BGSAVE ended with 'err'. fix it"
    ]
    assert remaining_advice(outcome(bgsave_status="ok", headroom_ok=True), "x", None) == []


def test_sigterm_raises_once_then_is_only_recorded_and_the_handler_is_put_back() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    guard = SigtermGuard()
    with guard:
        with pytest.raises(RescueInterruptedError):
            os.kill(os.getpid(), signal.SIGTERM)
        guard.hold()
        os.kill(os.getpid(), signal.SIGTERM)  # recorded, not raised
    assert guard.received
    assert signal.getsignal(signal.SIGTERM) is previous


def test_summary_of_a_rescued_instance_is_one_line() -> None:
    rescued = outcome(
        bgsave_status="ok",
        misconf_after=False,
        freed_bytes=40 << 20,
        rounds=4,
        original_settings={"stop_writes_on_bgsave_error": "yes", "save": "3600 1"},
    )

    [line] = summary_lines(rescued)

    assert line.startswith("redis://h:6379: rescued — BGSAVE ok, writes accepted")
    assert "stop-writes-on-bgsave-error yes, save '3600 1'" in line
    assert "in 4 round(s)" in line


def test_summary_of_a_failed_rescue_says_why_and_what_to_do() -> None:
    failed = outcome(
        bgsave_status="skipped",
        misconf_after=True,
        headroom_ok=False,
        diagnosis={"cause": "fork_enomem", "message": "the fork failed"},
        advice=["widen the rules"],
    )

    lines = summary_lines(failed)

    assert lines[0].startswith("redis://h:6379: NOT rescued — refuses writes (MISCONF)")
    assert lines[1] == "cause: fork_enomem — the fork failed"
    assert lines[-1] == "what to do: widen the rules"
