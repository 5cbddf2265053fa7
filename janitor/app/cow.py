"""Attach the COW model's prediction to an instance's facts (the glue between INFO, the host's
THP state, Redis's ``disable-thp`` and ``janitor.domain.cow_model``).

History is optional: ``samples`` are the instance's recorded INFO samples, oldest first; an
empty sequence gives the model's no-history fallback (INFO's last COW figures, else
``cow_fraction`` x RSS, raised when writes are happening now).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from janitor.adapters.host.memory import PAGE_SIZE
from janitor.domain.cow_model import CowFacts, predict_cow
from janitor.domain.cow_window import DirtyWindow
from janitor.domain.headroom_model import InstanceFacts


def with_cow_prediction(
    facts: InstanceFacts,
    info: Mapping[str, Any],
    *,
    thp_enabled: str | None,
    disable_thp: bool | None,
    cow_fraction: float,
    samples: Sequence[Mapping[str, Any]] = (),
    now: float | None = None,
    dirty: DirtyWindow | None = None,
    dirty_note: str | None = None,
) -> InstanceFacts:
    """``facts`` with ``cow`` set from ``predict_cow(samples, ...)``; ``dirty`` is the instance's
    soft-dirty window when one was read (else ``dirty_note`` says why not)."""
    cow_facts = CowFacts(
        info=info,
        ts=time.time() if now is None else now,
        rss_bytes=facts.rss_bytes,
        page_size=PAGE_SIZE,
        thp_enabled=thp_enabled if facts.local else None,
        disable_thp=disable_thp,
        cow_fraction=cow_fraction,
        dirty=dirty,
        dirty_note=dirty_note,
    )
    return replace(facts, cow=predict_cow(samples, cow_facts))
