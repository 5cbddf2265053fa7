"""What a server says about its place in a topology: role, primary, cluster nodes and slots.

``read_node_view`` asks one server (INFO replication + cluster, and the cluster's node table
when cluster mode is on: ``CLUSTER SHARDS`` on 7.0+, ``CLUSTER NODES`` before or when SHARDS
is refused). ``node_url`` builds the URL of another node from the URL the operator gave, keeping
its scheme and credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.core.errors import JanitorError
from janitor.domain.topology import (
    ClusterNode,
    Replication,
    parse_cluster_nodes,
    parse_cluster_shards,
    parse_replication,
)


@dataclass(frozen=True)
class NodeView:
    """One server's view: its replication role and, in a cluster, every node and itself."""

    replication: Replication
    cluster: bool = False
    nodes: list[ClusterNode] = field(default_factory=list)
    version: tuple[int, ...] = ()

    @property
    def myself(self) -> ClusterNode | None:
        """This server's own entry in the cluster's node table."""
        return next((node for node in self.nodes if node.myself), None)


def _version(text: object) -> tuple[int, ...]:
    parts = str(text.decode() if isinstance(text, bytes) else text).split(".")
    return tuple(int(part) for part in parts if part.isdigit())


def read_cluster_nodes(client: redis.Redis, version: tuple[int, ...]) -> list[ClusterNode]:
    """The cluster's nodes with ``myself`` marked (SHARDS on 7.0+, NODES otherwise)."""
    text = client.execute_command("CLUSTER", "NODES")
    listed = parse_cluster_nodes(text.decode() if isinstance(text, bytes) else str(text))
    if version < (7, 0):
        return listed
    try:
        shards = parse_cluster_shards(client.execute_command("CLUSTER", "SHARDS"))
    except redis.ResponseError:
        return listed
    my_id = next((node.node_id for node in listed if node.myself), None)
    return [replace(node, myself=node.node_id == my_id) for node in shards if node.port]


def read_node_view(target: RedisTarget) -> NodeView:
    """Ask ``target`` what it is (JanitorError when it cannot be reached or refuses)."""
    client = target.client(0)
    with redis_errors(target.display):
        info: dict[str, Any] = client.info("server")
        version = _version(info.get("redis_version", "0"))
        replication = parse_replication(client.info("replication"))
        cluster_info: dict[str, Any] = client.info("cluster")
        if not int(cluster_info.get("cluster_enabled", 0)):
            return NodeView(replication, version=version)
        nodes = read_cluster_nodes(client, version)
    return NodeView(replication, cluster=True, nodes=nodes, version=version)


def node_url(given: str, host: str, port: int) -> str:
    """The URL of node ``host:port``, with the scheme, credentials and query of ``given``."""
    parts = urlsplit(given)
    scheme = parts.scheme if parts.scheme in ("redis", "rediss") else "redis"
    auth = ""
    if parts.username or parts.password is not None:
        auth = f"{parts.username or ''}"
        if parts.password is not None:
            auth += f":{parts.password}"
        auth += "@"
    if not host:
        host = parts.hostname or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    query = parts.query if parts.scheme != "unix" else ""
    return urlunsplit((scheme, f"{auth}{host}:{port}", "", query, ""))


def is_reachable_primary(target: RedisTarget) -> bool:
    """True when ``target`` answers and says it is a primary."""
    try:
        return read_node_view(target).replication.role == "primary"
    except (JanitorError, redis.RedisError):
        return False
