"""From the configured URLs to the concrete nodes a command works on (docs/architecture.md).

``expand_targets(settings)`` is what every command calls instead of one target per URL:

* a ``redis+sentinel://`` URL becomes the service's current primary (asked every call, so
  ``serve`` follows a failover between cycles), plus its replicas with ``redis.nodes = all``
  when not acting;
* a Redis Cluster node's URL becomes the selected nodes of its cluster (``redis.nodes``:
  ``local`` — those whose redis-server runs on this host, proven from /proc; ``this``; ``all``);
* with ``redis.discover`` every local redis-server/valkey-server is added.

``acting=True`` (run, rescue) maps every replica to its primary — writes go only to a primary and
idle times mean something only there — so each shard's keys are judged and acted on once, on
the node that owns them. A replica whose primary cannot be reached stays a replica target
flagged ``unreachable_primary``: its lock refuses it with a clear error (exit 69).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from janitor.adapters.host.discovery import find_local_instances
from janitor.adapters.host.locality import unproven_reason, url_is_local
from janitor.adapters.host.memory import ProcReader
from janitor.adapters.redis.cluster import NodeView, is_reachable_primary, node_url, read_node_view
from janitor.adapters.redis.connection import RedisTarget, mask_url, redis_errors
from janitor.adapters.redis.sentinel import ask_sentinels
from janitor.config.sentinel_url import is_sentinel_url, parse_sentinel_url
from janitor.config.settings import Settings
from janitor.core.errors import ConfigError, JanitorError
from janitor.core.logs import get_logger, register_secret
from janitor.domain.topology import ClusterNode

log = get_logger(__name__)


def expand_targets(settings: Settings, *, acting: bool = False) -> list[RedisTarget]:
    """The concrete node targets for ``settings`` (a drop-in for ``targets_from_settings``)."""
    urls = list(settings.redis.urls)
    if settings.redis.discover:
        urls += discovered_urls(settings, {_address_key(url) for url in urls})
    targets: list[RedisTarget] = []
    seen: set[str] = set()
    for url in urls:
        register_secret(urlsplit(url).password)
        for target in _expand_one(url, settings, acting):
            key = target.node_id or _address_key(target.url)
            if key in seen:
                target.close()
                continue
            seen.add(key)
            targets.append(target)
    return targets


def discovered_urls(settings: Settings, known: set[str]) -> list[str]:
    """One URL per local Redis process not already configured; the unusable ones are logged."""
    urls = []
    for instance in find_local_instances(settings.headroom.proc_root):
        if instance.problem is not None:
            log.warning(
                "topology.discovered_unusable",
                pid=instance.pid,
                server=instance.name,
                reason=instance.problem,
            )
            continue
        if not {_address_key(url) for url in instance.urls} & known:
            urls.append(instance.urls[0])
            log.info("topology.discovered", pid=instance.pid, url=instance.urls[0])
    return urls


def _address_key(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    try:
        port = parts.port or 6379
    except ValueError:  # several hosts (a Sentinel URL): no single address
        return url
    host = parts.hostname or ""
    host = "127.0.0.1" if host in ("localhost", "::1") else host
    return f"{host}:{port}{parts.path.rstrip('/')}"


def _expand_one(url: str, settings: Settings, acting: bool) -> list[RedisTarget]:
    if is_sentinel_url(url):
        return _sentinel_targets(url, settings, acting)
    seed = RedisTarget(url=url, settings=settings)
    try:
        view = read_node_view(seed)
    except JanitorError:
        return [seed]  # the command reports why it cannot be reached, per instance
    if view.cluster:
        seed.close()
        return _cluster_targets(url, view, settings, acting)
    if view.replication.role == "primary":
        seed.role = "primary"
        return [seed]
    return [_standalone_replica(seed, view, settings, acting)]


def _sentinel_targets(url: str, settings: Settings, acting: bool) -> list[RedisTarget]:
    """The service's current primary; with ``redis.nodes = all`` (and not acting) also the
    healthy replicas the sentinel knows, each scanned as itself."""
    parsed = parse_sentinel_url(url)
    register_secret(parsed.password)
    answer = ask_sentinels(
        parsed, settings.redis_password(), settings.redis.username, settings.redis.connect_timeout
    )
    host, port = answer.primary
    log.info("topology.sentinel_primary", primary=f"{host}:{port}", sentinel=answer.sentinel)
    targets = [
        RedisTarget(url=parsed.data_url(host, port), settings=settings, role="primary", given=url)
    ]
    if settings.redis.nodes == "all" and not acting:
        targets += [
            RedisTarget(url=parsed.data_url(*replica), settings=settings, role="replica", given=url)
            for replica in answer.replicas
        ]
    return targets


def _standalone_replica(
    seed: RedisTarget, view: NodeView, settings: Settings, acting: bool
) -> RedisTarget:
    seed.role = "replica"
    replication = view.replication
    if not acting or replication.primary_host is None or replication.primary_port is None:
        return seed
    primary = RedisTarget(
        url=node_url(seed.url, replication.primary_host, replication.primary_port),
        settings=settings,
        role="primary",
        given=seed.url,
    )
    if is_reachable_primary(primary):
        log.info("topology.replica_via_primary", replica=seed.display, primary=primary.display)
        seed.close()
        return primary
    primary.close()
    seed.unreachable_primary = f"{replication.primary_host}:{replication.primary_port}"
    return seed


def _cluster_targets(
    url: str, view: NodeView, settings: Settings, acting: bool
) -> list[RedisTarget]:
    myself = view.myself
    selected: list[ClusterNode]
    if settings.redis.nodes == "this":
        selected = [myself] if myself is not None else []
    else:
        selected = [node for node in view.nodes if node.healthy]
    if settings.redis.nodes == "local":
        selected = [node for node in selected if _node_is_local(url, node, settings)]
        if not selected:
            raise ConfigError(
                [
                    "redis.nodes: no node of the cluster of "
                    f"{mask_url(url)} runs on this host (use --nodes this or --nodes all)"
                ]
            )
    if acting:
        selected = _owning_primaries(selected, view.nodes)
    return [
        RedisTarget(
            url=_node_url(url, node),
            settings=settings,
            role=node.role,
            node_id=node.node_id,
            shard=node.shard_id,
            slots=node.slots,
            cluster=True,
            readonly=node.role == "replica",
            given=url,
        )
        for node in selected
    ]


def _node_url(given: str, node: ClusterNode) -> str:
    """The URL of ``node`` (its TLS port when the given URL is rediss://)."""
    tls = given.startswith("rediss://") and node.tls_port
    return node_url(given, node.host, node.tls_port if tls and node.tls_port else node.port)


def _owning_primaries(selected: list[ClusterNode], nodes: list[ClusterNode]) -> list[ClusterNode]:
    """Each selected node's shard primary, once (a shard's keys are acted on once)."""
    by_id = {node.node_id: node for node in nodes}
    primaries: list[ClusterNode] = []
    for node in selected:
        primary = node if node.role == "primary" else by_id.get(node.shard_id)
        if primary is None or not primary.healthy:
            log.warning("topology.shard_without_primary", node=f"{node.host}:{node.port}")
            continue
        if primary not in primaries:
            primaries.append(primary)
    return primaries


def _node_is_local(given: str, node: ClusterNode, settings: Settings) -> bool:
    """True when ``node``'s redis-server runs on this host (its INFO pid proven in /proc)."""
    url = _node_url(given, node)
    if not url_is_local(url):
        return False
    target = RedisTarget(url=url, settings=settings, readonly=node.role == "replica")
    try:
        with redis_errors(target.display):
            info = target.client(0).info("server")
    except JanitorError:
        return False
    finally:
        target.close()
    reader = ProcReader(settings.headroom.proc_root, settings.headroom.cgroup_root)
    uptime = info.get("uptime_in_seconds")
    why = unproven_reason(
        reader.process(int(info.get("process_id", 0))),
        int(uptime) if uptime is not None else None,
        reader.uptime_seconds(),
        settings.headroom.pid_start_tolerance,
    )
    if why:
        log.info("topology.node_not_local", node=target.display, reason=why)
    return why is None
