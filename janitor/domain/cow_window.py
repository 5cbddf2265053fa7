"""Pages a process dirtied over a window of time, from the kernel's soft-dirty bits (pure).

Writing ``4`` to ``/proc/<pid>/clear_refs`` clears the soft-dirty bit of every page of the
process; bit 55 of a page's 8-byte ``/proc/<pid>/pagemap`` entry is set again by the next write to
it. Counting the soft-dirty pages of Redis's private writable anonymous mappings ([heap] and
jemalloc's mmaps) a window of ``t`` seconds after the clear gives the distinct pages the current
write pattern dirties in ``t`` — what a fork child would copy if it ran for ``t`` — with the
locality of the writes (random or sequential keys) included, which INFO cannot show. The parsing,
the arithmetic and when the COW model may use a window live here; the adapter
``janitor.adapters.host.dirty_pages`` reads the files.
See docs/domain.md §5 (the dirty-page window).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from janitor.domain.cow_series import SaveObservation

SOFT_DIRTY_BIT = 1 << 55
PRESENT_BIT = 1 << 63
SWAPPED_BIT = 1 << 62
ENTRY_BYTES = 8
MIN_WINDOW_WRITES = 100.0
COMPARABLE = 2.0
"""A window is used for a run at most this many times longer or shorter than itself."""
SIMILAR = 1.25
"""Writes (or bytes per write) within this factor count as similar."""
SATURATED = 0.9
"""A window that dirtied this much of the resident set tells a lower bound only."""
_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+\S+\s+(\S+)\s+(\d+)\s*(.*)$")


@dataclass(frozen=True)
class DirtyWindow:
    """Distinct pages dirtied over ``seconds`` while ``writes`` writes happened (None: unknown)."""

    pages: int
    seconds: float
    writes: float | None
    page_size: int = 4096

    @property
    def bytes(self) -> int:
        """The dirtied pages in bytes."""
        return self.pages * self.page_size


def anonymous_ranges(maps_text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the private writable anonymous mappings in ``/proc/<pid>/maps``:
    no file behind them (inode 0), or the ``[heap]``; not the stack or the vdso."""
    ranges = []
    for line in maps_text.splitlines():
        match = _MAPS_LINE.match(line.strip())
        if match is None:
            continue
        start, end, perms, _, inode, name = match.groups()
        if not perms.startswith("rw") or perms[3] != "p" or inode != "0":
            continue
        if name and name != "[heap]":
            continue
        ranges.append((int(start, 16), int(end, 16)))
    return ranges


def count_soft_dirty(entries: bytes) -> int:
    """Pages whose pagemap entry is soft-dirty and present or swapped (a hole in a fresh mapping
    reads as soft-dirty too; it holds nothing a child could copy)."""
    usable = len(entries) - len(entries) % ENTRY_BYTES
    held = PRESENT_BIT | SWAPPED_BIT
    view = memoryview(entries)[:usable].cast("Q")  # the kernel writes host byte order
    return sum(1 for entry in view if entry & SOFT_DIRTY_BIT and entry & held)


def per_write(window: DirtyWindow, resident: int, rate: float | None) -> float | None:
    """Bytes dirtied per write over the window, undoing the saturation at ``resident`` the way
    the model calibrates saves: ``-S ln(1 - D/S) / W``; ``W`` is the window's writes, else
    ``rate`` x its duration. None when too few writes to tell or the window saturated."""
    writes = window.writes
    if writes is None and rate is not None:
        writes = rate * window.seconds
    if writes is None or writes < MIN_WINDOW_WRITES or resident <= 0:
        return None
    if window.bytes >= SATURATED * resident:
        return None
    return unsaturated(window.bytes, writes, resident)


def unsaturated(copied: float, writes: float, resident: int) -> float:
    """Bytes per write ``k`` such that ``writes`` writes at ``k`` each, saturating at
    ``resident`` (a page is copied once), copy ``copied``: ``-S ln(1 - C/S) / W``."""
    copied = min(copied, 0.95 * resident)
    return -resident * math.log(1 - copied / resident) / max(writes, 1.0)


def used_window(
    window: DirtyWindow | None,
    note: str | None,
    rate: float | None,
    resident: int,
    seconds: float,
    reasons: list[str],
) -> float | None:
    """Bytes per write the current pattern dirties, from a window about as long as the run
    (within ``COMPARABLE`` x: the figure depends on the time scale); None, with the reason, when
    there is no usable window."""
    if window is None:
        if note:
            reasons.append(f"dirty-page window: {note}")
        return None
    if not 1 / COMPARABLE <= window.seconds / seconds <= COMPARABLE:
        reasons.append(
            f"dirty-page window of {window.seconds:.0f} s not used for a {seconds:.0f} s run "
            "(pages per write depend on the time scale)"
        )
        return None
    found = per_write(window, resident, rate)
    if found is None:
        reasons.append("dirty-page window: saturated or too few writes in it to tell")
        return None
    reasons.append(
        f"{found:.0f} B dirtied per write now: {window.pages} distinct pages in a "
        f"{window.seconds:.0f} s soft-dirty window; saturating at RSS"
    )
    return found


def same_pattern(
    saves: Sequence[SaveObservation], window: float, resident: int, base: float
) -> list[SaveObservation]:
    """Saves whose writes dirtied at most ``SIMILAR`` x what writes dirty now (no floor from a
    more scattered pattern once the window shows it changed)."""
    return [
        s
        for s in saves
        if not s.writes or unsaturated(s.cow_bytes - base, s.writes, resident) <= window * SIMILAR
    ]
