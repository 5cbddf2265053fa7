"""The example policies in config/policies load and do what their comments say."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.config.settings import load_settings
from janitor.domain.keys import KeyRecord
from janitor.domain.policy import judge

POLICIES = Path(__file__).parents[2] / "config" / "policies"
DAY = 86400


def test_all_three_examples_exist() -> None:
    assert {path.name for path in POLICIES.glob("*.toml")} >= {
        "sessions.toml",
        "caches.toml",
        "queues.toml",
    }


@pytest.mark.parametrize(
    ("policy", "record", "action"),
    [
        ("sessions", KeyRecord(0, b"session:1", "string", 500, 8 * DAY, None, None), "expire"),
        ("sessions", KeyRecord(0, b"session:1", "string", 500, DAY, None, None), "keep"),
        ("sessions", KeyRecord(0, b"session:1", "string", 500, 100 * DAY, None, 60_000), "delete"),
        (
            "sessions",
            KeyRecord(0, b"session:admin:1", "string", 500, 100 * DAY, None, None),
            "keep",
        ),
        ("caches", KeyRecord(0, b"cache:x", "string", 100_000, 4 * DAY, None, None), "delete"),
        (
            "caches",
            KeyRecord(0, b"cache:pinned:x", "string", 100_000, 40 * DAY, None, None),
            "keep",
        ),
        ("caches", KeyRecord(0, b"cache:x", "string", 1000, 40 * DAY, None, None), "keep"),
        (
            "queues",
            KeyRecord(0, b"queue:old", "list", 2 * 1024**2, 40 * DAY, None, None),
            "archive",
        ),
        ("queues", KeyRecord(0, b"queue:old", "hash", 2 * 1024**2, 40 * DAY, None, None), "keep"),
    ],
)
def test_example_policy_decisions(policy: str, record: KeyRecord, action: str) -> None:
    settings = load_settings(POLICIES / f"{policy}.toml", environ={})
    assert judge(settings.policy, record).action == action
