"""The fork-headroom model as the pass's meter and predictor.

Every measurement covers all the instances of the run (they share the host's commit limit and
RAM), and hands the pass the entry of the one instance it works on.
"""

from __future__ import annotations

from typing import Any

from janitor.adapters.host.dirty_pages import DirtyPageWindows
from janitor.adapters.redis.connection import RedisTarget
from janitor.app.headroom import InstanceHeadroom, measure_headroom, predict_after_freeing
from janitor.app.instance_pass import HeadroomMeter, HeadroomSnapshot
from janitor.config.settings import Settings


def model_meter(
    targets: list[RedisTarget], settings: Settings, windows: DirtyPageWindows | None = None
) -> HeadroomMeter:
    """Return a meter that measures ``targets`` together and reports the one asked for; with
    ``windows``, each measurement reads and reopens the instances' dirty-page windows."""

    def measure(target: RedisTarget) -> HeadroomSnapshot:
        report = measure_headroom(targets, settings, windows)
        document = report.to_dict()
        instance = next((i for i in report.instances if i.url == target.display), None)
        if instance is None:
            failed = next((e for url, e in report.errors if url == target.display), None)
            if failed is not None:
                raise failed
            raise LookupError(f"headroom has no entry for {target.display}")
        return HeadroomSnapshot(
            document=instance.to_dict(),
            verdict=instance.verdict.value,
            need_to_free_bytes=instance.need_to_free_bytes,
            detail=instance,
            host=document["host"],
        )

    return measure


def model_predictor(before: HeadroomSnapshot, removed_bytes: int) -> dict[str, Any] | None:
    """The model's expected figures after ``removed_bytes`` are gone (None without a model)."""
    if not isinstance(before.detail, InstanceHeadroom):
        return None
    return predict_after_freeing(before.detail, removed_bytes)
