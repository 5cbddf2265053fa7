"""What every use case starts from: the effective settings, the run id and the output format."""

from __future__ import annotations

from dataclasses import dataclass, field

from janitor.adapters.host.dirty_pages import DirtyPageWindows
from janitor.config.settings import Settings


@dataclass
class AppContext:
    """What every command starts from: effective settings, the run id and the output format."""

    settings: Settings
    run_id: str
    fmt: str
    dirty_windows: DirtyPageWindows = field(default_factory=DirtyPageWindows)
    """Soft-dirty windows kept open across the measurements of a run and a daemon's cycles."""
