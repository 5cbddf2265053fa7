"""Key slots, CLUSTER NODES / SHARDS parsing and INFO replication (pure)."""

from __future__ import annotations

from pathlib import Path

from janitor.domain.topology import (
    hash_tag_for,
    key_slot,
    owner_of,
    parse_cluster_nodes,
    parse_cluster_shards,
    parse_replication,
)

NODES = (Path(__file__).parents[1] / "fixtures" / "topology" / "cluster-nodes.txt").read_text()


def test_key_slots_match_redis() -> None:
    assert key_slot(b"foo") == 12182
    assert key_slot(b"redis-janitor:lock") == 1116
    assert key_slot(b"{user1000}.following") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == key_slot(b"foo{}{bar}")  # empty tag: whole key hashes
    assert key_slot(b"foo{}{bar}") != key_slot(b"bar")


def test_hash_tag_lands_in_owned_slots() -> None:
    for ranges in [((0, 5460),), ((5461, 10922),), ((10923, 16383),), ((7000, 7000),)]:
        tag = hash_tag_for(ranges)
        assert tag is not None
        slot = key_slot(f"redis-janitor:lock:{{{tag}}}".encode())
        assert any(low <= slot <= high for low, high in ranges)
    assert hash_tag_for(()) is None


def test_cluster_nodes_roles_slots_and_health() -> None:
    nodes = {node.port: node for node in parse_cluster_nodes(NODES)}
    assert nodes[30001].myself and nodes[30001].role == "primary"
    assert nodes[30001].slots == ((0, 5460),)
    assert nodes[30003].slots == ((10923, 16383),)  # the migration marker is not a slot
    assert nodes[30004].role == "replica"
    assert nodes[30004].slots == ((0, 5460),)  # inherited from its primary
    assert nodes[30004].shard_id == nodes[30001].node_id
    assert not nodes[30005].healthy
    assert owner_of(12182, nodes.values()) == nodes[30003]


def test_cluster_shards_reply() -> None:
    reply = [
        [
            b"slots", [0, 5460],
            b"nodes", [
                [b"id", b"aaa", b"port", 7000, b"ip", b"127.0.0.1", b"endpoint", b"127.0.0.1",
                 b"role", b"master", b"replication-offset", 10, b"health", b"online"],
                [b"id", b"bbb", b"port", 7003, b"ip", b"127.0.0.1", b"endpoint", b"127.0.0.1",
                 b"role", b"replica", b"replication-offset", 0, b"health", b"loading"],
                [b"id", b"ccc", b"port", 7006, b"ip", b"127.0.0.1", b"endpoint", b"127.0.0.1",
                 b"role", b"replica", b"replication-offset", 10, b"health", b"fail"],
            ],
        ],
    ]  # fmt: skip
    primary, replica, failed = parse_cluster_shards(reply)
    assert (primary.role, primary.port, primary.slots) == ("primary", 7000, ((0, 5460),))
    # "loading" is also a replica whose offset this node has not heard of yet: still scanned
    assert (replica.role, replica.primary_id, replica.healthy) == ("replica", "aaa", True)
    assert replica.shard_id == "aaa"
    assert failed.healthy is False


def test_replication_role() -> None:
    assert parse_replication({"role": "master", "connected_slaves": 1}).role == "primary"
    replica = parse_replication(
        {"role": "slave", "master_host": "10.0.0.1", "master_port": 6380,
         "master_link_status": "down"}
    )  # fmt: skip
    assert (replica.role, replica.primary_host, replica.primary_port) == (
        "replica", "10.0.0.1", 6380
    )  # fmt: skip
    assert replica.link_up is False
