"""One clear message about a failed save; the headroom model's judgement when the log is mute."""

from __future__ import annotations

from janitor.app.rescue.diagnosis import (
    classify_log_lines,
    persistence_message,
    unknown,
    with_model_judgement,
)
from janitor.domain.persistence import PersistenceState, parse_persistence_state

FORK_ENOMEM = (
    "100:M 24 Nov 2026 04:00:01.000 # Can't save in background: fork: Cannot allocate memory"
)


def state(save: str, stop_writes: str, status: str = "err") -> PersistenceState:
    config = {"save": save, "stop-writes-on-bgsave-error": stop_writes}
    return parse_persistence_state({"rdb_last_bgsave_status": status}, config)


def test_writes_refused_says_what_is_wrong_and_what_to_do() -> None:
    message = persistence_message(state("3600 1", "yes"), classify_log_lines([FORK_ENOMEM]))
    assert message is not None
    assert message.startswith("writes refused (MISCONF): the last background save could not fork")
    assert "What to do: free memory" in message
    assert message.endswith(".")


def test_a_failed_save_that_still_accepts_writes_says_why() -> None:
    diagnosis = classify_log_lines([FORK_ENOMEM])
    lifted = persistence_message(state("3600 1", "no"), diagnosis) or ""
    no_save_point = persistence_message(state("", "yes"), diagnosis) or ""
    assert "writes are still accepted because stop-writes-on-bgsave-error is no" in lifted
    assert "because no save point is configured" in no_save_point


def test_saves_that_work_have_no_message() -> None:
    assert persistence_message(state("3600 1", "yes", status="ok"), None) is None


def section(cause_unknown: bool) -> dict[str, object]:
    diagnosis = unknown("Redis logs to standard output") if cause_unknown else None
    message = persistence_message(state("3600 1", "yes"), diagnosis)
    return {
        "writes_refused": True,
        "diagnosis": diagnosis.to_dict()
        if diagnosis
        else classify_log_lines([FORK_ENOMEM]).to_dict(),
        "message": message,
    }


def test_an_undiagnosed_failure_gets_the_models_judgement() -> None:
    judged = with_model_judgement(section(cause_unknown=True), fork_fits=False)
    diagnosis = judged["diagnosis"]
    assert isinstance(diagnosis, dict)
    assert "memory is the likely cause" in diagnosis["model_judgement"]
    assert str(judged["message"]).endswith("`redis-janitor rescue` can free it.")
    fits = with_model_judgement(section(cause_unknown=True), fork_fits=True)
    assert "may have failed on disk" in str(fits["message"])


def test_a_diagnosed_failure_is_left_as_the_log_says() -> None:
    diagnosed = section(cause_unknown=False)
    assert with_model_judgement(diagnosed, fork_fits=True) == diagnosed
