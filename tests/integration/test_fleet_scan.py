"""Several instances scanned side by side within one budget for the janitor's CPU."""

from __future__ import annotations

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.fleet_scan import scan_instances
from janitor.config.settings import load_settings
from janitor.core.errors import JanitorError
from janitor.domain.keys import KeyRecord
from tests.conftest import RedisFactory
from tests.support.redis_server import free_port


def test_instances_scanned_side_by_side_keep_their_own_results(
    redis_factory: RedisFactory,
) -> None:
    servers = [redis_factory(), redis_factory()]
    for count, server in zip((300, 700), servers, strict=True):
        server.client().mset({f"k{index}": "v" for index in range(count)})
    down = f"redis://127.0.0.1:{free_port()}"
    urls = [servers[0].url, down, servers[1].url]
    overrides = {
        "redis": {"urls": urls, "connect_timeout": 1},
        "scan": {"parallel_instances": 3, "max_client_cpu": 0.5},
    }
    settings = load_settings(None, overrides=overrides, environ={})
    outcomes = scan_instances([RedisTarget(url, settings) for url in urls], settings)
    assert [target.display for target, _ in outcomes] == urls
    first, failed, second = (outcome for _, outcome in outcomes)
    assert isinstance(failed, JanitorError) and int(failed.exit_code) == 69
    assert not isinstance(first, JanitorError) and not isinstance(second, JanitorError)
    assert (first.aggregates.total.keys, second.aggregates.total.keys) == (300, 700)
    assert isinstance(first.aggregates.top_keys()[0], KeyRecord)
