"""Persistence state parsing, the MISCONF predicate and its error translation."""

from __future__ import annotations

import pytest
import redis

from janitor.adapters.redis.connection import redis_errors, translate_redis_error
from janitor.core.errors import ExitCode, RedisUnavailableError, WritesRefusedError
from janitor.domain.persistence import is_misconf_error, parse_persistence_state, parse_save_points

REDIS_70_MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
    "to disk. Commands that may modify the data set are disabled, because this instance is "
    "configured to report errors during writes if RDB snapshotting fails "
    "(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the "
    "RDB error."
)
REDIS_26_MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but is currently not able to persist on "
    "disk. Commands that may modify the data set are disabled. Please check Redis logs for "
    "details about the error."
)
FAILED_INFO = {
    "rdb_last_bgsave_status": "err",
    "rdb_bgsave_in_progress": 0,
    "rdb_last_save_time": 1700000000,
    "rdb_last_bgsave_time_sec": -1,
    "rdb_changes_since_last_save": 12,
}


@pytest.mark.parametrize(
    ("save", "stop_writes", "status", "refused"),
    [
        ("3600 1", "yes", "err", True),
        ("3600 1 300 100", "yes", "err", True),
        ("", "yes", "err", False),
        ("3600 1", "no", "err", False),
        ("3600 1", "yes", "ok", False),
    ],
)
def test_writes_are_refused_only_with_failed_save_stop_writes_and_a_save_point(
    save: str, stop_writes: str, status: str, refused: bool
) -> None:
    info = {**FAILED_INFO, "rdb_last_bgsave_status": status}
    config = {b"save": save.encode(), b"stop-writes-on-bgsave-error": stop_writes.encode()}

    state = parse_persistence_state(info, config)

    assert state.writes_refused is refused
    assert state.to_dict()["writes_refused"] is refused
    assert state.last_bgsave_failed is (status == "err")


def test_fields_are_parsed_from_info_and_config() -> None:
    state = parse_persistence_state(
        {**FAILED_INFO, "rdb_bgsave_in_progress": 1},
        {"save": "3600 1 300 100", "stop-writes-on-bgsave-error": "yes"},
    )

    assert state.rdb_last_bgsave_status == "err"
    assert state.rdb_bgsave_in_progress is True
    assert state.rdb_last_save_time == 1700000000
    assert state.rdb_last_bgsave_time_seconds == -1
    assert state.rdb_changes_since_last_save == 12
    assert state.save_points == ["3600 1", "300 100"]
    assert state.stop_writes_on_bgsave_error is True
    assert state.config_known


def test_forbidden_config_leaves_settings_unknown_and_assumes_refusal_after_a_failed_save() -> None:
    state = parse_persistence_state(FAILED_INFO, None)

    assert state.save_points is None
    assert state.stop_writes_on_bgsave_error is None
    assert not state.config_known
    assert state.writes_refused is True
    assert parse_persistence_state({"rdb_last_bgsave_status": "ok"}, None).writes_refused is False


def test_save_points_split_into_pairs() -> None:
    assert parse_save_points("") == []
    assert parse_save_points("900 1 300 10 60 10000") == ["900 1", "300 10", "60 10000"]


@pytest.mark.parametrize("text", [REDIS_70_MISCONF, REDIS_26_MISCONF, "-MISCONF anything"])
def test_misconf_is_matched_by_its_prefix(text: str) -> None:
    assert is_misconf_error(text)
    assert is_misconf_error(redis.ResponseError(text))


def test_misconf_inside_a_transaction_is_recognised() -> None:
    """redis-py prefixes errors of queued commands; the MISCONF behind it still counts."""
    annotated = f"Command # 1 (UNLINK b'big: key') of pipeline caused error: {REDIS_70_MISCONF}"

    assert is_misconf_error(annotated)
    assert is_misconf_error(redis.ResponseError(annotated))
    assert isinstance(
        translate_redis_error(redis.ResponseError(annotated), "u"), WritesRefusedError
    )


@pytest.mark.parametrize(
    "text",
    [
        "ERR unknown command",
        "READONLY You can't write",
        "OOM command not allowed",
        "",
        "Command # 1 (UNLINK k) of pipeline caused error: OOM command not allowed",
        "ERR no such key MISCONF",
    ],
)
def test_other_errors_are_not_misconf(text: str) -> None:
    assert not is_misconf_error(text)


def test_misconf_translates_to_writes_refused_with_exit_2() -> None:
    translated = translate_redis_error(redis.ResponseError(REDIS_70_MISCONF), "redis://h:6379")

    assert isinstance(translated, WritesRefusedError)
    assert translated.exit_code == ExitCode.CRITICAL
    assert "redis://h:6379" in translated.message
    assert translated.hint is not None
    assert "rescue" in translated.hint


def test_redis_errors_raises_writes_refused_not_unavailable() -> None:
    with pytest.raises(WritesRefusedError), redis_errors("redis://h:6379"):
        raise redis.ResponseError(REDIS_26_MISCONF)
    with pytest.raises(RedisUnavailableError), redis_errors("redis://h:6379"):
        raise redis.ConnectionError("refused")
