"""Replication and cluster topology as plain data (pure: parsed replies in, nodes out).

Redis Cluster hashes a key to one of 16384 slots with CRC16 (XMODEM) of the key, or of its hash
tag ``{tag}`` when it has one; ``CLUSTER SHARDS`` (7.0+) and ``CLUSTER NODES`` (every version)
say which node serves which slots. See docs/domain.md (topology).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

SLOTS = 16384
SlotRange = tuple[int, int]


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key: bytes) -> int:
    """The cluster slot of ``key`` (only the first non-empty ``{tag}`` counts, as in Redis)."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc16(key) % SLOTS


def slot_in(slot: int, ranges: Iterable[SlotRange]) -> bool:
    """True when ``slot`` lies in one of the inclusive ``ranges``."""
    return any(low <= slot <= high for low, high in ranges)


def hash_tag_for(ranges: Sequence[SlotRange], limit: int = 100_000) -> str | None:
    """A short hash tag whose slot is in ``ranges`` (None when the node owns no slot)."""
    if not ranges:
        return None
    for number in range(limit):
        tag = str(number)
        if slot_in(key_slot(tag.encode()), ranges):
            return tag
    return None


@dataclass(frozen=True)
class ClusterNode:
    """One node as the cluster describes it."""

    node_id: str
    host: str
    port: int
    role: str
    """``primary`` or ``replica``."""
    primary_id: str | None
    """The node id of this node's primary (None on a primary)."""
    slots: tuple[SlotRange, ...] = ()
    """Slots served by this node's shard (its primary's slots, also on a replica)."""
    healthy: bool = True
    myself: bool = False
    tls_port: int | None = None
    flags: tuple[str, ...] = field(default=(), compare=False)

    @property
    def shard_id(self) -> str:
        """The shard: its primary's node id."""
        return self.node_id if self.role == "primary" else (self.primary_id or self.node_id)


def _nodes_slots(fields: Sequence[str]) -> tuple[SlotRange, ...]:
    ranges = []
    for item in fields:
        if item.startswith("["):  # a migrating/importing marker, not an owned slot
            continue
        low, _, high = item.partition("-")
        ranges.append((int(low), int(high or low)))
    return tuple(ranges)


def parse_cluster_nodes(text: str) -> list[ClusterNode]:
    """Parse a ``CLUSTER NODES`` reply; replicas inherit their primary's slots."""
    raw = []
    for line in text.strip().splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, address, flags_text, primary = parts[0], parts[1], parts[2], parts[3]
        flags = tuple(flags_text.split(","))
        endpoint = address.split("@", 1)[0]
        host, _, port = endpoint.rpartition(":")
        raw.append(
            ClusterNode(
                node_id=node_id,
                host=host,
                port=int(port or 0),
                role="primary" if "master" in flags else "replica",
                primary_id=None if primary == "-" else primary,
                slots=_nodes_slots(parts[8:]),
                healthy=not ({"fail", "fail?", "handshake", "noaddr"} & set(flags)),
                myself="myself" in flags,
                flags=flags,
            )
        )
    return _inherit_slots(raw)


def _inherit_slots(nodes: list[ClusterNode]) -> list[ClusterNode]:
    slots = {node.node_id: node.slots for node in nodes if node.role == "primary"}
    result = []
    for node in nodes:
        if node.role == "replica" and node.primary_id in slots:
            node = replace(node, slots=slots[node.primary_id or ""])
        result.append(node)
    return result


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_map(value: Any) -> dict[str, Any]:
    """A RESP2 flat list ``[k, v, k, v]`` (or a RESP3 map) as a dict with str keys."""
    if isinstance(value, Mapping):
        return {_text(k): v for k, v in value.items()}
    items = list(value)
    return {_text(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


SHARD_FAILED = frozenset({"fail", "failed"})
"""``CLUSTER SHARDS`` health values of a node that is down. ``loading`` is not one of them: a node
says it of a replica whose replication offset it has not heard of yet (0), which is also every
replica's state in another node's view for a moment after it joins or resyncs; such a replica is
scanned, and one that really is loading answers ``-LOADING`` for itself."""


def parse_cluster_shards(reply: Sequence[Any]) -> list[ClusterNode]:
    """Parse a ``CLUSTER SHARDS`` reply (7.0+) into nodes; replicas carry their shard's slots."""
    nodes = []
    for shard_reply in reply:
        shard = _as_map(shard_reply)
        flat = [int(v) for v in shard.get("slots", [])]
        ranges = tuple((flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2))
        members = [_as_map(node) for node in shard.get("nodes", [])]
        primary_id = next(
            (_text(m["id"]) for m in members if _text(m.get("role", "")) == "master"), None
        )
        for member in members:
            role = "primary" if _text(member.get("role", "")) == "master" else "replica"
            host = _text(member.get("ip") or member.get("endpoint") or "")
            tls = member.get("tls-port")
            nodes.append(
                ClusterNode(
                    node_id=_text(member["id"]),
                    host=host,
                    port=int(member.get("port") or 0),
                    role=role,
                    primary_id=None if role == "primary" else primary_id,
                    slots=ranges,
                    healthy=_text(member.get("health", "online")) not in SHARD_FAILED,
                    tls_port=int(tls) if tls is not None else None,
                )
            )
    return nodes


def owner_of(slot: int, nodes: Iterable[ClusterNode]) -> ClusterNode | None:
    """The healthy primary serving ``slot``, if any."""
    for node in nodes:
        if node.role == "primary" and node.healthy and slot_in(slot, node.slots):
            return node
    return None


@dataclass(frozen=True)
class Replication:
    """What ``INFO replication`` says about one server."""

    role: str
    """``primary`` or ``replica``."""
    primary_host: str | None = None
    primary_port: int | None = None
    link_up: bool | None = None


def parse_replication(info: Mapping[str, Any]) -> Replication:
    """Read the role (and a replica's primary) from a parsed ``INFO replication``."""
    role = _text(info.get("role", "master"))
    if role != "slave":
        return Replication("primary")
    port = info.get("master_port")
    status = info.get("master_link_status")
    return Replication(
        "replica",
        primary_host=_text(info["master_host"]) if info.get("master_host") else None,
        primary_port=int(port) if port is not None else None,
        link_up=None if status is None else _text(status) == "up",
    )
