"""What every use case starts from: the effective settings, the run id and the output format."""

from __future__ import annotations

from dataclasses import dataclass

from janitor.config.settings import Settings


@dataclass
class AppContext:
    """What every command starts from: effective settings, the run id and the output format."""

    settings: Settings
    run_id: str
    fmt: str
