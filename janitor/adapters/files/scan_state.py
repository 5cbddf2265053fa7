"""Scan checkpoints on disk: one private JSON file per instance, replaced atomically."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from janitor.adapters.files.durable import replace_atomically
from janitor.domain.scan_checkpoint import ScanCheckpoint


def load_checkpoint(path: Path) -> ScanCheckpoint | None:
    """The checkpoint at ``path``; None when missing, unreadable or damaged (a new pass)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return ScanCheckpoint.from_dict(data) if isinstance(data, dict) else None


def save_checkpoint(path: Path, checkpoint: ScanCheckpoint) -> None:
    """Write ``checkpoint`` (mode 0600; the directory is created private)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    content = json.dumps(checkpoint.to_dict(), separators=(",", ":")).encode()
    replace_atomically(path, content, 0o600)


def remove_checkpoint(path: Path) -> None:
    """Forget the checkpoint (missing is fine)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
