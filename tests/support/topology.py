"""Throwaway topologies for the tests: a primary/replica pair, a Redis Cluster built without
redis-cli (ADDSLOTSRANGE, MEET, REPLICATE), and Sentinels. Every wait polls with a deadline."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from janitor.domain.topology import key_slot, slot_in
from tests.support.redis_server import REDIS_SERVER, RedisServer, free_port, wait_for
from tests.support.server_build import server_build

Factory = Callable[..., RedisServer]
RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]
SCRATCH = b"{scratch}value"


def info(server: RedisServer, section: str) -> dict[str, object]:
    """INFO ``section`` of ``server`` as a dict."""
    reply: dict[str, object] = server.client().info(section)
    return reply


def make_replica(replica: RedisServer, primary: RedisServer) -> None:
    """REPLICAOF ``primary`` and wait until the link is up and the data synced."""
    primary.client().config_set("repl-diskless-sync-delay", 0)
    replica.client().execute_command("REPLICAOF", "127.0.0.1", str(primary.port))
    wait_for(
        lambda: info(replica, "replication").get("master_link_status") == "up",
        timeout=20,
        what="replica link up",
    )


def wait_replicated(primary: RedisServer, replica: RedisServer) -> None:
    """Wait until ``replica`` has every write ``primary`` made so far."""
    offset = int(str(info(primary, "replication")["master_repl_offset"]))
    wait_for(
        lambda: int(str(info(replica, "replication").get("slave_repl_offset", -1))) >= offset,
        timeout=20,
        what="replica caught up",
    )


@dataclass
class Cluster:
    """Six nodes: ``primaries[i]`` serves ``RANGES[i]``, ``replicas[i]`` replicates it."""

    primaries: list[RedisServer]
    replicas: list[RedisServer]
    ids: dict[int, str] = field(default_factory=dict)
    """Node id per port."""

    @property
    def nodes(self) -> list[RedisServer]:
        """Every node."""
        return self.primaries + self.replicas

    def node_id(self, server: RedisServer) -> str:
        """The cluster node id of ``server``."""
        return self.ids[server.port]

    def owner(self, key: bytes) -> RedisServer:
        """The node serving ``key``'s slot right now (asked to the cluster)."""
        slot = key_slot(key)
        for server in self.nodes:
            if server.client().execute_command("ROLE")[0] != b"master":
                continue
            nodes = server.client().execute_command("CLUSTER", "NODES").decode()
            for line in nodes.splitlines():
                parts = line.split()
                if "myself" in parts[2]:
                    for item in parts[8:]:
                        if item.startswith("["):
                            continue
                        low, _, high = item.partition("-")
                        if slot_in(slot, [(int(low), int(high or low))]):
                            return server
        raise LookupError(f"no node serves slot {slot}")

    def plant(self, key: bytes, size: int, idle_seconds: int = 0) -> None:
        """Create string ``key`` of about ``size`` bytes on its owner, looking idle."""
        scratch_owner = self.owner(SCRATCH)
        scratch_owner.client().set(SCRATCH, b"x" * size)
        payload = scratch_owner.client().dump(SCRATCH)
        scratch_owner.client().delete(SCRATCH)
        arguments: list[object] = ["RESTORE", key, 0, payload, "REPLACE"]
        if idle_seconds:
            arguments += ["IDLETIME", idle_seconds]
        self.owner(key).client().execute_command(*arguments)

    def keys(self) -> set[bytes]:
        """Every key on the primaries."""
        found: set[bytes] = set()
        for server in self.nodes:
            if server.client().execute_command("ROLE")[0] == b"master":
                found |= set(server.client().scan_iter(count=1000))
        return found

    def wait_ok(self) -> None:
        """Wait until every node says cluster_state:ok and every replica's link is up."""
        for server in self.nodes:
            wait_for(
                lambda s=server: (
                    b"cluster_state:ok" in s.client().execute_command("CLUSTER", "INFO")
                ),
                timeout=30,
                what=f"cluster_state:ok on {server.port}",
            )
            wait_for(
                lambda s=server: (
                    s.client().execute_command("CLUSTER", "NODES").count(b"slave")
                    == len(self.replicas)
                ),
                timeout=30,
                what=f"every replica known to {server.port}",
            )


def cluster_node_config() -> dict[str, str]:
    """The config of one cluster node (a bus port of its own from 7.0; port + 10000 before)."""
    config = {
        "cluster-enabled": "yes",
        "cluster-node-timeout": "2000",
        "repl-diskless-sync-delay": "0",
    }
    if server_build().at_least(7, 0):  # before 7.0 the bus is always the data port + 10000
        config["cluster-port"] = str(free_port())
    return config


def _add_slots(server: RedisServer, low: int, high: int) -> None:
    """CLUSTER ADDSLOTSRANGE (7.0+), or ADDSLOTS of every slot before."""
    if server_build().at_least(7, 0):
        server.client().execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
    else:
        server.client().execute_command("CLUSTER", "ADDSLOTS", *range(low, high + 1))


def start_cluster(factory: Factory) -> Cluster:
    """Build a 3-primary/3-replica cluster and wait until it is ok (no redis-cli)."""
    primaries = [factory(cluster_node_config()) for _ in RANGES]
    replicas = [factory(cluster_node_config()) for _ in RANGES]
    cluster = Cluster(primaries, replicas)
    for server in cluster.nodes:
        cluster.ids[server.port] = server.client().execute_command("CLUSTER", "MYID").decode()
    for server, (low, high) in zip(primaries, RANGES, strict=True):
        _add_slots(server, low, high)
    first = cluster.nodes[0].client()
    for server in cluster.nodes[1:]:
        bus = server.config.get("cluster-port", server.port + 10000)
        first.execute_command("CLUSTER", "MEET", "127.0.0.1", server.port, bus)
    for server in cluster.nodes:
        wait_for(
            lambda s=server: all(
                node_id in s.client().execute_command("CLUSTER", "NODES").decode()
                for node_id in cluster.ids.values()
            ),
            timeout=30,
            what="every node known",
        )
    for replica, primary in zip(replicas, primaries, strict=True):
        wait_for(
            lambda r=replica, p=primary: r.client().execute_command(
                "CLUSTER", "REPLICATE", cluster.node_id(p)
            ),
            timeout=30,
            what="CLUSTER REPLICATE",
        )
    for replica in replicas:
        wait_for(
            lambda r=replica: info(r, "replication").get("master_link_status") == "up",
            timeout=30,
            what="replica link up",
        )
    cluster.wait_ok()
    return cluster


@dataclass
class Sentinel:
    """One ``redis-server --sentinel`` process."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self, primary: RedisServer, service: str = "mymaster") -> Sentinel:
        """Monitor ``primary`` as ``service`` with short timeouts; wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.workdir / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"logfile {self.workdir / 'sentinel.log'}\n"
            f"sentinel monitor {service} 127.0.0.1 {primary.port} 1\n"
            f"sentinel down-after-milliseconds {service} 1000\n"
            f"sentinel failover-timeout {service} 10000\n"
        )
        self.process = subprocess.Popen(
            [REDIS_SERVER, str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.client().ping(), timeout=10, what="sentinel up")
        return self

    def client(self) -> redis.Redis:
        """A client for this sentinel."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def primary(self, service: str = "mymaster") -> tuple[str, int]:
        """The primary this sentinel names for ``service``."""
        host, port = self.client().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service)
        return host.decode(), int(port)

    def stop(self) -> None:
        """Stop the sentinel."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)


@contextlib.contextmanager
def running_cluster(workdir: Path) -> Iterator[Cluster]:
    """A 3-primary/3-replica cluster under ``workdir``, stopped afterwards."""
    started: list[RedisServer] = []

    def factory(config: dict[str, str] | None = None) -> RedisServer:
        server = RedisServer(workdir / f"node-{len(started)}", dict(config or {}))
        started.append(server)
        return server.start()

    try:
        yield start_cluster(factory)
    finally:
        for server in started:
            server.stop()


def reset(cluster: Cluster) -> None:
    """Empty every primary (the replicas follow) and zero every node's statistics."""
    for server in cluster.nodes:
        if server.client().execute_command("ROLE")[0] == b"master":
            server.client().flushall()
    for primary in cluster.nodes:
        for replica in cluster.nodes:
            if replica is not primary and _replicates(replica, primary):
                wait_replicated(primary, replica)
    for server in cluster.nodes:
        server.client().config_resetstat()


def _replicates(replica: RedisServer, primary: RedisServer) -> bool:
    role = replica.client().execute_command("ROLE")
    return role[0] == b"slave" and int(role[2]) == primary.port


def migrate_slot(
    cluster: Cluster, key: bytes, destination: RedisServer, *, finish: bool = True
) -> RedisServer:
    """Move ``key``'s slot to ``destination`` (SETSLOT IMPORTING/MIGRATING + MIGRATE); with
    ``finish`` False the slot stays half-migrated (the source answers -ASK for moved keys)."""
    source = cluster.owner(key)
    slot = key_slot(key)
    destination.client().execute_command(
        "CLUSTER", "SETSLOT", slot, "IMPORTING", cluster.node_id(source)
    )
    source.client().execute_command(
        "CLUSTER", "SETSLOT", slot, "MIGRATING", cluster.node_id(destination)
    )
    keys = source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    source.client().execute_command(
        "MIGRATE", "127.0.0.1", destination.port, "", 0, 5000, "KEYS", *keys
    )
    if finish:
        for server in (destination, source):
            server.client().execute_command(
                "CLUSTER", "SETSLOT", slot, "NODE", cluster.node_id(destination)
            )
    return source


def fail_over(replica: RedisServer, primary: RedisServer) -> None:
    """CLUSTER FAILOVER on ``replica`` and wait until the roles swapped."""
    replica.client().execute_command("CLUSTER", "FAILOVER")
    wait_for(
        lambda: (
            replica.client().execute_command("ROLE")[0] == b"master"
            and primary.client().execute_command("ROLE")[0] == b"slave"
        ),
        timeout=30,
        what="failover",
    )
