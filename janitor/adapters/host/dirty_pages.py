"""Dirty-page windows of local Redis processes from the kernel's soft-dirty bits (I/O).

``DirtyPageWindows.measure`` reads the window it opened for that process at its previous call (the
soft-dirty pages of its anonymous mappings, see ``janitor.domain.cow_window``) and opens a new one
by writing ``4`` to ``/proc/<pid>/clear_refs``. It writes nothing but that file, of a process the
caller proved is the Redis INFO answered for, and once its own: whether the kernel keeps
soft-dirty bits (``CONFIG_MEM_SOFT_DIRTY``; a kernel without it accepts the write and never sets
bit 55) is probed on a page of the janitor's. Anything refused or unreadable gives no window and a
reason, never an error. Cost: clearing write-protects every page of Redis, so the first write to
each page afterwards takes a minor fault (docs/domain.md §5, the dirty-page window).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from janitor.domain.cow_window import (
    ENTRY_BYTES,
    PRESENT_BIT,
    SOFT_DIRTY_BIT,
    DirtyWindow,
    anonymous_ranges,
    count_soft_dirty,
)

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIN_WINDOW_SECONDS = 1.0
CHUNK_PAGES = 1 << 16
CLEAR_SOFT_DIRTY = b"4"


@dataclass(frozen=True)
class _Opened:
    run_id: str | None
    at: float
    changes: int | None
    saves: tuple[int | None, int | None]


def _number(info: Mapping[str, Any], name: str) -> int | None:
    try:
        return int(info[name])
    except (KeyError, TypeError, ValueError):
        return None


def _saves(info: Mapping[str, Any]) -> tuple[int | None, int | None]:
    return _number(info, "rdb_saves"), _number(info, "rdb_last_save_time")


def probe_soft_dirty(proc_root: Path = Path("/proc")) -> str | None:
    """None when this kernel sets soft-dirty bits, else why not (checked on a page of ours)."""
    try:
        with mmap.mmap(-1, PAGE_SIZE) as page:
            page[0] = 1
            address = ctypes.addressof(ctypes.c_char.from_buffer(page))
            (proc_root / "self" / "clear_refs").write_bytes(CLEAR_SOFT_DIRTY)
            page[0] = 2
            with (proc_root / "self" / "pagemap").open("rb") as pagemap:
                pagemap.seek(address // PAGE_SIZE * ENTRY_BYTES)
                entry = int.from_bytes(pagemap.read(ENTRY_BYTES), "little")
    except OSError as error:
        return f"soft-dirty bits unreadable here ({error.strerror or error})"
    if not entry & PRESENT_BIT or not entry & SOFT_DIRTY_BIT:
        return "this kernel keeps no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY off)"
    return None


class DirtyPageWindows:
    """Open dirty-page windows, one per Redis process (kept across measurements of a run or of
    a serve daemon's cycles)."""

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        clock: Callable[[], float] = time.monotonic,
        probe: Callable[[Path], str | None] = probe_soft_dirty,
    ) -> None:
        self.proc_root = proc_root
        self.clock = clock
        self._probe = probe
        self._unsupported: str | None = None
        self._probed = False
        self._open: dict[int, _Opened] = {}

    def unsupported(self) -> str | None:
        """Why no window can be taken on this host (None: soft-dirty works)."""
        if not self._probed:
            self._unsupported, self._probed = self._probe(self.proc_root), True
        return self._unsupported

    def measure(self, pid: int, info: Mapping[str, Any]) -> tuple[DirtyWindow | None, str]:
        """The window opened at the previous call for this process (None with the reason when
        there is none), then a new window opened now. ``info`` is the INFO read just now (its
        ``run_id`` tells a restarted Redis that got the same pid)."""
        why = self.unsupported()
        if why is not None:
            return None, why
        now, opened = self.clock(), self._open.get(pid)
        window, note = None, "opened now, read at the next measurement"
        run_id = info.get("run_id")
        if opened is not None and opened.run_id == run_id:
            seconds = now - opened.at
            if seconds < MIN_WINDOW_SECONDS:
                return None, f"only {seconds:.1f} s old, kept open"
            try:
                pages = self._count(pid)
            except OSError as error:
                self._open.pop(pid, None)
                return None, f"pagemap of pid {pid} unreadable ({error.strerror or error})"
            window = DirtyWindow(pages, seconds, self._writes(opened, info), PAGE_SIZE)
            note = f"read: {pages} pages over {seconds:.0f} s"
        try:
            (self.proc_root / str(pid) / "clear_refs").write_bytes(CLEAR_SOFT_DIRTY)
        except OSError as error:
            self._open.pop(pid, None)
            return window, f"soft-dirty bits of pid {pid} not clearable ({error.strerror or error})"
        changes = _number(info, "rdb_changes_since_last_save")
        self._open[pid] = _Opened(run_id, now, changes, _saves(info))
        return window, note

    @staticmethod
    def _writes(opened: _Opened, info: Mapping[str, Any]) -> float | None:
        """Writes since the window opened: the growth of ``rdb_changes_since_last_save`` when no
        save ended meanwhile (it restarts then: unknown, the model uses the recent rate)."""
        changes = _number(info, "rdb_changes_since_last_save")
        if changes is None or opened.changes is None or changes < opened.changes:
            return None
        if _saves(info) != opened.saves:
            return None
        return float(changes - opened.changes)

    def _count(self, pid: int) -> int:
        """Soft-dirty pages of the process's private writable anonymous mappings."""
        base = self.proc_root / str(pid)
        ranges = anonymous_ranges((base / "maps").read_text())
        count = 0
        with (base / "pagemap").open("rb") as pagemap:
            for start, end in ranges:
                page = start // PAGE_SIZE
                while page < end // PAGE_SIZE:
                    pages = min(CHUNK_PAGES, end // PAGE_SIZE - page)
                    pagemap.seek(page * ENTRY_BYTES)
                    count += count_soft_dirty(pagemap.read(pages * ENTRY_BYTES))
                    page += pages
        return count
