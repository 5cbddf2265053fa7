"""Forecasts in the commands' documents: ``headroom``/``report`` entries, ``run`` before/after.

Each function records the measurement in the history first (best effort), then adds a
``forecast`` object to the JSON documents (and a reason line the text output shows). A forecast
that reaches the margin sooner than ``headroom.forecast_warn`` turns an ok verdict into warn.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from janitor.adapters.prometheus import PassMetrics
from janitor.app.headroom import HeadroomReport, InstanceHeadroom
from janitor.app.history_recording import forecasts, sample_of
from janitor.app.history_store import read_samples, record_samples
from janitor.app.instance_pass import PassResult
from janitor.config.settings import Settings
from janitor.core.logs import get_logger
from janitor.core.units import format_duration
from janitor.domain.forecast import Forecast, about, describe, seconds_bought
from janitor.domain.history import Sample

log = get_logger(__name__)
VERDICT_ORDER = ("ok", "warn", "critical")


def forecast_entry(result: Forecast) -> dict[str, Any]:
    """The JSON ``forecast`` object: the figures and the sentence for people."""
    return {**result.to_dict(), "message": describe(result)}


def forecast_warns(result: Forecast, warn_seconds: float) -> bool:
    """True when the headroom reaches the margin within ``warn_seconds`` (0 disables)."""
    return bool(
        warn_seconds > 0 and result.seconds_to_warn is not None
        and result.seconds_to_warn < warn_seconds
    )  # fmt: skip


def headroom_with_history(
    report: HeadroomReport, settings: Settings, source: str
) -> dict[str, Any]:
    """``report.to_dict()``, recorded in the history, with each instance's forecast."""
    document = report.to_dict()
    try:
        now = time.time()
        samples = [sample_of(instance, source, now) for instance in report.instances]
        found = _record_then_forecast(settings, samples, _margins(report.instances), now)
        add_forecasts(document, found, settings.headroom.forecast_warn)
    except Exception as error:  # the history must never fail the command
        log.warning("history.failed", error=repr(error))
    return document


def add_forecasts(
    document: dict[str, Any], found: Mapping[str, Forecast], warn_seconds: float
) -> None:
    """Add ``forecast`` (and its reason) to each instance entry; escalate ok → warn if due."""
    for entry in document["instances"]:
        result = found.get(entry["url"])
        if result is None:
            continue
        entry["forecast"] = forecast_entry(result)
        entry["reasons"] = [*entry["reasons"], describe(result)]
        if forecast_warns(result, warn_seconds) and entry["verdict"] == "ok":
            entry["verdict"] = "warn"
            entry["reasons"].append(
                f"forecast: the margin is reached within headroom.forecast_warn "
                f"({format_duration(warn_seconds)})"
            )
    verdicts = [document["verdict"], *(entry["verdict"] for entry in document["instances"])]
    document["verdict"] = max(verdicts, key=VERDICT_ORDER.index)


@dataclass(frozen=True)
class RunForecast:
    """One instance's forecast before and after a run's cleanup, and the time it bought."""

    before: Forecast
    after: Forecast
    seconds_bought: float | None

    def to_dict(self) -> dict[str, Any]:
        """The ``forecast`` object of a run's instance entry."""
        bought = self.seconds_bought
        return {
            "before": forecast_entry(self.before),
            "after": forecast_entry(self.after),
            "seconds_bought": bought,
            "message": f"this cleanup buys ~{about(bought)}" if bought and bought > 0 else None,
        }


def record_passes(
    settings: Settings,
    source: str,
    results: Sequence[PassResult],
    metrics: Sequence[PassMetrics] = (),
) -> dict[str, RunForecast]:
    """Record each pass's "after" measurement; forecast before and after; fill ``metrics``."""
    try:
        return _record_passes(settings, source, results, metrics)
    except Exception as error:  # the history must never fail the command
        log.warning("history.failed", error=repr(error))
        return {}


def _record_passes(
    settings: Settings,
    source: str,
    results: Sequence[PassResult],
    metrics: Sequence[PassMetrics],
) -> dict[str, RunForecast]:
    now = time.time()
    pairs = [
        (result, result.before.detail, result.after.detail)
        for result in results
        if isinstance(result.before.detail, InstanceHeadroom)
        and isinstance(result.after.detail, InstanceHeadroom)
    ]
    before_samples = [sample_of(before, source, now) for _, before, _ in pairs]
    after_samples = [
        sample_of(after, source, now, result.freed_bytes, result.count("done"))
        for result, _, after in pairs
    ]
    margins = _margins([after for _, _, after in pairs])
    history = read_samples(settings, now - settings.history.forecast_window)
    before = forecasts(settings, margins, [*history, *before_samples], now)
    record_samples(settings, after_samples)
    after = forecasts(settings, margins, [*history, *after_samples], now)
    found: dict[str, RunForecast] = {}
    for sample in after_samples:
        first, second = before[sample.instance], after[sample.instance]
        bought = None
        if sample.is_cleanup and sample.headroom is not None:  # only a cleanup buys time
            bought = seconds_bought(first, float(sample.headroom))
        found[sample.instance] = RunForecast(first, second, bought)
    for metric in metrics:
        if metric.instance in found and found[metric.instance].after.known:
            metric.forecast_seconds_to_critical = found[metric.instance].after.seconds_to_critical
            metric.forecast_seconds_to_warn = found[metric.instance].after.seconds_to_warn
    return found


def add_run_forecasts(document: dict[str, Any], found: Mapping[str, RunForecast]) -> None:
    """Add ``forecast`` to the run document's before/after headroom and instance entries."""
    for side in ("before", "after"):
        for entry in document[side]["instances"]:
            one = found.get(entry.get("url", ""))
            if one is not None:
                entry["forecast"] = forecast_entry(getattr(one, side))
    for entry in document["instances"]:
        one = found.get(entry["instance"])
        if one is not None:
            entry["forecast"] = one.to_dict()


def _record_then_forecast(
    settings: Settings, samples: Sequence[Sample], margins: Mapping[str, float], now: float
) -> dict[str, Forecast]:
    recorded = record_samples(settings, samples)
    history = read_samples(settings, now - settings.history.forecast_window)
    return forecasts(settings, margins, history if recorded else [*history, *samples], now)


def _margins(instances: Sequence[InstanceHeadroom]) -> dict[str, float]:
    return {instance.url: float(instance.assessment.margin_bytes) for instance in instances}
