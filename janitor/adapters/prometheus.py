"""Prometheus metrics of the last cycle per instance: a node_exporter textfile and an HTTP endpoint.

The cycle maps its result onto plain ``PassMetrics`` (one per instance; a None field omits that
metric). ``MetricsStore`` keeps the latest per instance and is a prometheus-client collector, so the
same figures go to the textfile (``write_textfile``: temp file + fsync + rename, never half a file)
and to ``serve``'s optional ``/metrics``. Every series has an ``instance`` label (the masked URL)
and the node's ``role`` (primary/replica) and ``shard`` (a cluster shard's primary node id; empty
outside a cluster).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from janitor.adapters.files.durable import replace_atomically
from janitor.core.errors import JanitorError

if TYPE_CHECKING:
    from prometheus_client.core import Metric

# prometheus_client is imported where metrics are made, not here: a run that writes no metrics
# (the usual one-shot) does not pay for importing it at start-up.

PREFIX = "redis_janitor_"
LAST_SUCCESS = PREFIX + "last_success_timestamp_seconds"


@dataclass
class PassMetrics:
    """What one cycle did on one instance. ``instance`` is the masked URL (``target.display``)."""

    instance: str
    finished_at: float
    """Unix time the cycle ended."""
    duration_seconds: float
    succeeded: bool
    scanned_keys: int | None = None
    acted_keys: dict[str, int] = field(default_factory=dict)
    """Keys acted on, by action (``expire``, ``archive``, ``delete``)."""
    freed_bytes: int | None = None
    fork_charge_bytes: int | None = None
    commit_headroom_bytes: int | None = None
    cow_headroom_bytes: int | None = None
    verdict: int | None = None
    """0 ok, 1 warn, 2 critical (as the headroom command's exit code)."""
    writes_refused: bool | None = None
    """True when Redis answered writes with MISCONF."""
    forecast_seconds_to_critical: float | None = None
    """Forecast time until the headroom reaches zero (None, absent: unknown or not shrinking)."""
    forecast_seconds_to_warn: float | None = None
    """Forecast time until the headroom reaches the margin (None, absent: unknown)."""
    role: str = ""
    """primary or replica (empty when unknown)."""
    shard: str = ""
    """The cluster shard (its primary's node id); empty outside a cluster."""

    @property
    def labels(self) -> list[str]:
        """The label values of every series of this instance (see ``LABELS``)."""
        return [self.instance, self.role, self.shard]


LABELS = ["instance", "role", "shard"]
_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("duration_seconds", "last_run_duration_seconds", "Duration of the last cycle."),
    ("scanned_keys", "scanned_keys", "Keys scanned by the last cycle."),
    ("freed_bytes", "freed_bytes", "Bytes freed by the last cycle."),
    ("fork_charge_bytes", "fork_charge_bytes", "Commit charge a fork of Redis would add."),
    ("commit_headroom_bytes", "commit_headroom_bytes", "Commit room left above the fork charge."),
    ("cow_headroom_bytes", "cow_headroom_bytes", "Memory room left for copy-on-write."),
    ("verdict", "verdict", "Headroom verdict: 0 ok, 1 warn, 2 critical."),
    ("writes_refused", "writes_refused", "1 when Redis refuses writes (MISCONF)."),
    (
        "forecast_seconds_to_critical",
        "forecast_seconds_to_critical",
        "Forecast seconds until the fork headroom reaches zero (absent when unknown).",
    ),
    (
        "forecast_seconds_to_warn",
        "forecast_seconds_to_warn",
        "Forecast seconds until the fork headroom reaches the margin (absent when unknown).",
    ),
)


class MetricsStore:
    """The latest ``PassMetrics`` per instance; a prometheus-client collector (thread-safe)."""

    def __init__(self) -> None:
        self._latest: dict[str, PassMetrics] = {}
        self._last_success: dict[str, float] = {}
        self._identity: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def update(self, results: Iterable[PassMetrics]) -> None:
        """Record new results; an instance's last success time survives its failures."""
        with self._lock:
            for result in results:
                self._latest[result.instance] = result
                self._identity[result.instance] = (result.role, result.shard)
                if result.succeeded:
                    self._last_success[result.instance] = result.finished_at

    def remember_last_success(
        self, instance: str, timestamp: float, role: str = "", shard: str = ""
    ) -> None:
        """Seed an instance's last success time (e.g. from the previous textfile)."""
        with self._lock:
            self._last_success.setdefault(instance, timestamp)
            self._identity.setdefault(instance, (role, shard))

    def collect(self) -> Iterator[Metric]:
        """Yield one gauge family per metric (prometheus-client collector protocol)."""
        from prometheus_client.core import GaugeMetricFamily

        with self._lock:
            latest = sorted(self._latest.values(), key=lambda result: result.instance)
            last_success = sorted(self._last_success.items())
            identity = dict(self._identity)
        labels = LABELS
        success = GaugeMetricFamily(
            LAST_SUCCESS, "Unix time of the last successful cycle.", labels=labels
        )
        ok = GaugeMetricFamily(
            PREFIX + "last_run_success", "1 when the last cycle succeeded.", labels=labels
        )
        for instance, timestamp in last_success:
            success.add_metric([instance, *identity.get(instance, ("", ""))], timestamp)
        for result in latest:
            ok.add_metric(result.labels, float(result.succeeded))
        yield success
        yield ok
        for attribute, name, documentation in _GAUGES:
            family = GaugeMetricFamily(PREFIX + name, documentation, labels=labels)
            for result in latest:
                value = getattr(result, attribute)
                if value is not None:
                    family.add_metric(result.labels, float(value))
            yield family
        acted = GaugeMetricFamily(
            PREFIX + "acted_keys",
            "Keys acted on by the last cycle, by action.",
            labels=[*labels, "action"],
        )
        for result in latest:
            for action, count in sorted(result.acted_keys.items()):
                acted.add_metric([*result.labels, action], float(count))
        yield acted

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def read_last_success(path: Path) -> dict[str, float]:
    """Return ``instance → last success time`` from an existing textfile ({} when unreadable)."""
    return {instance: value for instance, (value, _role, _shard) in _last_success(path).items()}


def _last_success(path: Path) -> dict[str, tuple[float, str, str]]:
    """``instance → (last success time, role, shard)`` from an existing textfile."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = path.read_text(encoding="utf-8")
        families = list(text_string_to_metric_families(text))
    except (OSError, ValueError):
        return {}
    return {
        sample.labels["instance"]: (
            sample.value,
            sample.labels.get("role", ""),
            sample.labels.get("shard", ""),
        )
        for family in families
        if family.name == LAST_SUCCESS
        for sample in family.samples
        if "instance" in sample.labels
    }


def write_textfile(path: Path, content: bytes) -> None:
    """Replace ``path`` atomically: write a temp file in the same directory, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, content, 0o644)


def publish_textfile(
    path: Path, results: Iterable[PassMetrics], store: MetricsStore | None = None
) -> None:
    """Record ``results`` (in ``store``, or a fresh one seeded from ``path``) and rewrite ``path``.

    The one-shot ``run`` passes no store: last-success times of instances that failed this time
    are carried over from the previous file.
    """
    if store is None:
        store = MetricsStore()
        for instance, (timestamp, role, shard) in _last_success(path).items():
            store.remember_last_success(instance, timestamp, role, shard)
    store.update(results)
    write_textfile(path, store.exposition())


def serve_http(listen: str, store: MetricsStore) -> None:
    """Serve ``store`` on ``http://HOST:PORT/metrics`` from a daemon thread."""
    from prometheus_client import start_http_server

    host, _, port = listen.rpartition(":")
    try:
        start_http_server(int(port), addr=host.strip("[]"), registry=store.registry)
    except OSError as error:
        raise JanitorError(f"metrics.listen: cannot listen on {listen}: {error.strerror}") from None
