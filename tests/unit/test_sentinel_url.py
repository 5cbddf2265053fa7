"""``redis+sentinel://`` URLs: parsing, validation in the settings (78, password never shown)."""

from __future__ import annotations

import pytest

from janitor.adapters.redis.connection import mask_url
from janitor.config.sentinel_url import parse_sentinel_url
from janitor.config.settings import load_settings
from janitor.core.errors import ConfigError


def test_several_sentinels_service_db_and_credentials() -> None:
    url = parse_sentinel_url("redis+sentinel://app:s%40cret@10.0.0.1:26379,[::1]:26380/cache/2")
    assert url.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (url.service, url.db, url.username, url.password) == ("cache", 2, "app", "s@cret")
    assert url.data_url("10.0.0.9", 6379) == "redis://app:s%40cret@10.0.0.9:6379/2"
    bare = parse_sentinel_url("redis+sentinel://127.0.0.1:26379/mymaster")
    assert bare.data_url("::1", 6380) == "redis://[::1]:6380"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+sentinel://127.0.0.1:26379", "service name"),
        ("redis+sentinel:///mymaster", "at least one sentinel"),
        ("redis+sentinel://127.0.0.1/mymaster", "host:port"),
        ("redis+sentinel://127.0.0.1:99999/mymaster", "bad port"),
        ("redis+sentinel://127.0.0.1:26379/mymaster/x", "number"),
        ("redis+sentinel://127.0.0.1:26379/a/1/2", "/service_name/db"),
    ],
)
def test_bad_urls_are_config_errors_without_the_password(url: str, reason: str) -> None:
    secret_url = url.replace("://", "://user:hunter2@", 1)
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"redis": {"urls": [secret_url]}}, environ={})
    assert raised.value.exit_code == 78
    (problem,) = raised.value.problems
    assert problem.startswith("redis.urls: ")
    assert reason in problem
    assert "hunter2" not in str(raised.value)


def test_topology_settings() -> None:
    settings = load_settings(
        None,
        {"redis": {"urls": ["redis+sentinel://h:1/s"], "nodes": "all", "discover": True}},
        environ={},
    )
    assert (settings.redis.nodes, settings.redis.discover) == ("all", True)
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"redis": {"nodes": "some"}}, environ={})
    assert raised.value.problems[0].startswith("redis.nodes: ")


def test_masking_a_sentinel_url_keeps_every_host() -> None:
    url = "redis+sentinel://u:s3cret@10.0.0.1:26379,10.0.0.2:26379/mymaster"
    assert mask_url(url) == "redis+sentinel://u:***@10.0.0.1:26379,10.0.0.2:26379/mymaster"
    assert mask_url("redis://:pw@[::1]:6380/2") == "redis://:***@[::1]:6380/2"
    assert mask_url("redis://10.0.0.1:6379") == "redis://10.0.0.1:6379"
