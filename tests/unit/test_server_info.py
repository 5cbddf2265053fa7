"""INFO is read defensively across Redis and Valkey versions."""

from janitor.domain.server import IdleMetric, parse_keyspace, parse_server_info


def test_keyspace_from_parsed_and_raw_forms() -> None:
    info = {"db0": {"keys": 3, "expires": 1}, "db12": "keys=7,expires=0,avg_ttl=0", "dbx": 1}
    assert parse_keyspace(info) == {0: 3, 12: 7}


def test_lfu_policy_switches_to_freq() -> None:
    info = {"redis_version": "7.0.15", "maxmemory_policy": "allkeys-lfu"}
    assert parse_server_info(info).idle_metric is IdleMetric.FREQ


def test_valkey_is_recognised_and_missing_fields_listed() -> None:
    server = parse_server_info(
        {"server_name": "valkey", "redis_version": "7.2.4", "valkey_version": "8.0.1"}
    )
    assert server.flavor == "valkey"
    assert server.version == "8.0.1"
    assert server.supported
    assert "process_id" in server.missing
    assert server.process_id is None


def test_old_redis_is_flagged_unsupported() -> None:
    server = parse_server_info({"redis_version": "5.0.7", "process_id": 12})
    assert not server.supported
    assert server.process_id == 12
    assert server.idle_metric is IdleMetric.IDLETIME
