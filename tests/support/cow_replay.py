"""Replay a recorded ``bench/cow.py`` run through the current COW model (no server needed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from janitor.domain.cow_model import CowFacts, predict_cow
from janitor.domain.cow_window import DirtyWindow


def with_window(facts: CowFacts, window: dict[str, Any] | None) -> CowFacts:
    """``facts`` with the dirty-page window a bench row recorded (unchanged without one)."""
    if window is None:
        return facts
    dirty = DirtyWindow(window["pages"], window["seconds"], window["writes"], facts.page_size)
    return replace(facts, dirty=dirty)


def replay(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Each recorded save with the model's prediction from the samples taken before it, and the
    prediction given the save's real duration (``hindsight``). Runs recorded before the history
    kept the key count (``keys``) get the bench's own (``meta.keys``: it only overwrites keys)."""
    meta, rows = record["meta"], []
    for row in record["rows"]:
        samples = [s for s in record["samples"] if s["ts"] < row["ts"]]
        info = {"keys": meta["keys"], **row["facts"]["info"]}
        facts = CowFacts(
            info=info, ts=row["ts"], rss_bytes=row["facts"]["rss"],
            page_size=meta["page_size"], thp_enabled=meta["thp_enabled"],
            disable_thp=meta["disable_thp"],
        )  # fmt: skip
        prediction = predict_cow(samples, facts)
        hindsight = predict_cow(samples, replace(facts, expected_seconds=row["seconds"]))
        windowed = predict_cow(samples, with_window(facts, row.get("window")))
        rows.append({
            **row, "saves_seen": prediction.saves_observed, "predicted": prediction.bytes,
            "estimated": prediction.estimated, "source": prediction.source,
            "write_rate": prediction.write_rate, "reasons": list(prediction.reasons),
            "hindsight": hindsight.bytes, "windowed": windowed.bytes,
            "windowed_reasons": list(windowed.reasons),
        })  # fmt: skip
    return rows
