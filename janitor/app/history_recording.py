"""Record what a measurement saw in the history, and forecast from it.

``headroom``, ``report``, ``run`` and every ``serve`` cycle call one function here after they
measured. Recording is best effort: a full disk or an unreadable file logs a warning and the
command carries on (without a forecast at worst). See docs/architecture.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from janitor.adapters.files.history import HistoryRead
from janitor.adapters.host.memory import ProcReader
from janitor.app.headroom import InstanceHeadroom, policy_from_settings
from janitor.app.history_store import history_file
from janitor.config.settings import Settings
from janitor.core.errors import ConfigError
from janitor.core.logs import get_logger
from janitor.domain.forecast import Forecast, ForecastPolicy, forecast, points_from_samples
from janitor.domain.history import Sample, select_info

log = get_logger(__name__)


def sample_of(
    instance: InstanceHeadroom,
    source: str,
    ts: float,
    freed_bytes: int | None = None,
    keys_acted: int | None = None,
) -> Sample:
    """The history sample of one measured instance."""
    assessment, info = instance.assessment, instance.info
    used = info.get("used_memory")
    return Sample(
        ts=ts,
        instance=instance.url,
        source=source,
        used_memory=int(used) if isinstance(used, int | str) and str(used).isdigit() else None,
        rss=instance.rss_bytes,
        fork_charge=instance.fork_charge_bytes,
        commit_headroom=assessment.commit_headroom_bytes,
        cow_estimate=assessment.cow_estimate_bytes,
        cow_headroom=assessment.cow_headroom_bytes,
        need_to_free=instance.need_to_free_bytes,
        freed_bytes=freed_bytes,
        keys_acted=keys_acted,
        verdict=instance.verdict.value,
        info=select_info(info),
    )


def forecast_policy(settings: Settings, margin_bytes: float) -> ForecastPolicy:
    """The forecast's tunables from ``[history]``, with the instance's margin."""
    section = settings.history
    return ForecastPolicy(
        margin_bytes=margin_bytes,
        window_seconds=section.forecast_window,
        min_samples=section.forecast_min_samples,
        min_span_seconds=section.forecast_min_span,
    )


def forecasts(
    settings: Settings,
    margins: Mapping[str, float],
    history: Iterable[Sample],
    now: float | None = None,
) -> dict[str, Forecast]:
    """One forecast per instance of ``margins`` (URL → margin bytes) from ``history``."""
    now = time.time() if now is None else now
    by_instance: dict[str, list[Sample]] = {url: [] for url in margins}
    for sample in history:
        if sample.instance in by_instance:
            by_instance[sample.instance].append(sample)
    return {
        url: forecast(points_from_samples(samples), forecast_policy(settings, margins[url]), now)
        for url, samples in by_instance.items()
    }


def load_history(settings: Settings, since: float | None = None) -> HistoryRead:
    """Everything the history file holds (at or after ``since``), with what was skipped.

    Raises ConfigError (78) when the file exists but cannot be read (the ``history`` command).
    """
    history = history_file(settings)
    try:
        return history.read(since)
    except OSError as error:
        raise ConfigError([f"history.path: cannot read {history.path}: {error.strerror}"]) from None


def configured_margin(settings: Settings) -> float:
    """``headroom.margin`` in bytes on this host (a percent needs MemTotal; 0 when unknown)."""
    policy = policy_from_settings(settings)
    try:
        host = ProcReader(settings.headroom.proc_root, settings.headroom.cgroup_root).host_facts()
    except (OSError, ValueError):
        return float(policy.margin_bytes)
    return float(policy.margin_for(host))
