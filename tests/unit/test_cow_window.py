"""Dirty-page windows: /proc/<pid>/maps and pagemap parsing, the per-write figure, the reader."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from janitor.adapters.host.dirty_pages import DirtyPageWindows, probe_soft_dirty
from janitor.domain.cow_model import CowFacts, predict_cow
from janitor.domain.cow_window import (
    PRESENT_BIT,
    SOFT_DIRTY_BIT,
    SWAPPED_BIT,
    DirtyWindow,
    anonymous_ranges,
    count_soft_dirty,
    per_write,
)
from tests.unit.test_cow_model import RSS, busy_history

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cow"
MIB = 1 << 20
PAGE = 4096


def entries(*values: int) -> bytes:
    return b"".join(value.to_bytes(8, "little") for value in values)


def test_anonymous_ranges_of_a_redis_7_0_process_are_its_private_writable_anonymous_maps() -> None:
    ranges = anonymous_ranges((FIXTURES / "redis-7.0-maps.txt").read_text())
    assert (0x7F4B47C00000, 0x7F4B48400000) in ranges  # jemalloc's first arena chunk
    assert (0x556FA4400000, 0x556FA441F000) in ranges  # .bss of the binary
    assert (0x7F4B45BFC000, 0x7F4B45BFD000) not in ranges  # a ---p guard page
    assert (0x556FA43A6000, 0x556FA4400000) not in ranges  # the binary's own data (a file)
    assert all(start < end for start, end in ranges)
    assert len(ranges) == 17  # the rw-p lines with inode 0 and no name


def test_the_heap_counts_and_the_stack_and_shared_mappings_do_not() -> None:
    maps = "\n".join([
        "55d0e0a00000-55d0e0b00000 rw-p 00000000 00:00 0                          [heap]",
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]",
        "7f0000000000-7f0000100000 rw-s 00000000 00:01 1234    /dev/zero (deleted)",
        "7f0000200000-7f0000300000 rw-s 00000000 00:00 0 ",
        "not a mapping line",
    ])  # fmt: skip
    assert anonymous_ranges(maps) == [(0x55D0E0A00000, 0x55D0E0B00000)]


def test_soft_dirty_pages_count_only_when_present_or_swapped() -> None:
    data = entries(
        PRESENT_BIT | SOFT_DIRTY_BIT | 0x1234,  # written since the clear
        PRESENT_BIT | 0x1235,  # present, clean
        SOFT_DIRTY_BIT,  # a hole of a fresh mapping: reads soft-dirty, holds nothing
        SWAPPED_BIT | SOFT_DIRTY_BIT,  # written, then swapped out
        0,
    )
    assert count_soft_dirty(data) == 2
    assert count_soft_dirty(data + b"\x01\x02\x03") == 2  # a torn read keeps whole entries
    assert count_soft_dirty(b"") == 0


def test_per_write_undoes_the_saturation_at_the_resident_set() -> None:
    resident = 800 * MIB
    window = DirtyWindow(pages=50_000, seconds=3.0, writes=15_000.0, page_size=PAGE)
    k = per_write(window, resident, rate=None)
    assert k is not None
    assert k > window.bytes / window.writes  # more than the plain ratio: some pages were hit twice
    assert resident * (1 - math.exp(-k * 15_000 / resident)) == pytest.approx(window.bytes)


def test_per_write_takes_the_rate_when_the_window_writes_are_unknown_and_needs_enough() -> None:
    unknown = DirtyWindow(pages=1_000, seconds=4.0, writes=None, page_size=PAGE)
    assert per_write(unknown, 800 * MIB, rate=None) is None
    from_rate = per_write(unknown, 800 * MIB, rate=500.0)  # 2,000 writes
    known = per_write(DirtyWindow(1_000, 4.0, 2_000.0, PAGE), 800 * MIB, rate=None)
    assert from_rate == known is not None
    assert per_write(DirtyWindow(1_000, 4.0, 20.0, PAGE), 800 * MIB, rate=None) is None
    saturated = DirtyWindow(int(0.9 * 800 * MIB) // PAGE, 60.0, 1e6, PAGE)
    assert per_write(saturated, 800 * MIB, rate=None) is None  # a lower bound only


class FakeProc:
    """A proc root with one process: maps, a sparse pagemap and a clear_refs file."""

    def __init__(self, root: Path, pid: int = 4242) -> None:
        self.pid, self.base = pid, root / str(pid)
        self.base.mkdir(parents=True)
        self.start = 0x7F0000000000
        (self.base / "maps").write_text(
            f"{self.start:x}-{self.start + 8 * PAGE:x} rw-p 00000000 00:00 0 \n"
            f"{self.start + 8 * PAGE:x}-{self.start + 9 * PAGE:x} r--p 00000000 fe:00 7 /lib/x\n"
        )
        (self.base / "clear_refs").write_bytes(b"")
        self.dirty(0)

    def dirty(self, pages: int) -> None:
        """Mark the first ``pages`` of the eight-page mapping soft-dirty (the rest clean)."""
        values = [PRESENT_BIT | (SOFT_DIRTY_BIT if i < pages else 0) for i in range(8)]
        values.append(PRESENT_BIT | SOFT_DIRTY_BIT)  # the file mapping: never counted
        with (self.base / "pagemap").open("wb") as pagemap:
            pagemap.seek(self.start // PAGE * 8)
            pagemap.write(entries(*values))


def info(changes: int, saves: int = 3, run_id: str = "a" * 40) -> dict[str, object]:
    return {
        "rdb_changes_since_last_save": changes, "rdb_saves": saves,
        "rdb_last_save_time": 1_700_000_000 + saves, "run_id": run_id,
    }  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def windows_on(root: Path, clock: Clock, unsupported: str | None = None) -> DirtyPageWindows:
    return DirtyPageWindows(root, clock, probe=lambda _root: unsupported)


def test_a_window_opens_then_reads_the_pages_dirtied_and_the_writes_meanwhile(
    tmp_path: Path,
) -> None:
    proc, clock = FakeProc(tmp_path), Clock()
    windows = windows_on(tmp_path, clock)
    window, note = windows.measure(proc.pid, info(1_000))
    assert window is None
    assert note == "opened now, read at the next measurement"
    assert (proc.base / "clear_refs").read_bytes() == b"4"
    proc.dirty(5)
    clock.now += 0.5
    assert windows.measure(proc.pid, info(1_100)) == (None, "only 0.5 s old, kept open")
    clock.now += 4.5
    window, note = windows.measure(proc.pid, info(3_000))
    assert window == DirtyWindow(pages=5, seconds=5.0, writes=2_000.0, page_size=PAGE)
    assert note == "read: 5 pages over 5 s"
    clock.now += 2.0
    window, _ = windows.measure(proc.pid, info(500, saves=4))  # a save ended: counter restarted
    assert window is not None and window.writes is None and window.seconds == 2.0


def test_a_restarted_redis_on_the_same_pid_gets_a_new_window(tmp_path: Path) -> None:
    proc, clock = FakeProc(tmp_path), Clock()
    windows = windows_on(tmp_path, clock)
    windows.measure(proc.pid, info(1_000))
    clock.now += 10
    window, note = windows.measure(proc.pid, info(10, run_id="b" * 40))
    assert (window, note) == (None, "opened now, read at the next measurement")


def test_no_window_and_a_reason_when_the_host_does_not_allow_it(tmp_path: Path) -> None:
    proc, clock = FakeProc(tmp_path), Clock()
    off = windows_on(tmp_path, clock, unsupported="this kernel keeps no soft-dirty bits")
    assert off.measure(proc.pid, info(1)) == (None, "this kernel keeps no soft-dirty bits")
    assert (proc.base / "clear_refs").read_bytes() == b""  # nothing written
    (proc.base / "clear_refs").unlink()
    (proc.base / "clear_refs").mkdir()  # writing it fails as a refused write would
    window, note = windows_on(tmp_path, clock).measure(proc.pid, info(1))
    assert window is None
    assert note.startswith(f"soft-dirty bits of pid {proc.pid} not clearable (")
    gone, _ = windows_on(tmp_path, clock).measure(99999, info(1))
    assert gone is None


def test_the_probe_says_why_when_proc_is_not_there(tmp_path: Path) -> None:
    reason = probe_soft_dirty(tmp_path)
    assert reason is not None and reason.startswith("soft-dirty bits unreadable here (")


def window_of(mib: float, writes: float) -> DirtyWindow:
    return DirtyWindow(pages=int(mib * MIB) // PAGE, seconds=3.0, writes=writes, page_size=PAGE)


def test_a_window_of_sequential_writes_lowers_the_prediction_after_random_saves() -> None:
    series = busy_history()  # one busy save: 200 MiB copied under ~30,000 writes (random keys)
    history = predict_cow(series.samples, series.facts(5_000))
    sequential = predict_cow(
        series.samples, series.facts(5_000, dirty=window_of(20, writes=15_000))
    )
    assert history.source == "history" and history.bytes >= 200 * MIB
    assert sequential.source == "dirty_pages"
    assert 35 * MIB < sequential.bytes < 50 * MIB  # ~30,000 writes at the window's 1.4 KB each
    assert not any("not below 200.0 MiB" in reason for reason in sequential.reasons)
    assert any("soft-dirty window" in reason for reason in sequential.reasons)


def test_a_window_of_scattered_writes_raises_the_prediction_and_the_floors_stay() -> None:
    series = busy_history()
    scattered = predict_cow(
        series.samples, series.facts(5_000, dirty=window_of(150, writes=15_000))
    )
    assert scattered.source == "dirty_pages"
    assert scattered.bytes > 250 * MIB
    info = {"rdb_bgsave_in_progress": 1, "current_cow_peak": 500 * MIB, "current_cow_size": 1}
    running = predict_cow(
        series.samples, series.facts(5_000, info=info, dirty=window_of(20, writes=15_000))
    )
    assert running.bytes == 500 * MIB


def test_the_reasons_say_why_no_window_was_used() -> None:
    series = busy_history()
    note = "this kernel keeps no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY off)"
    without = predict_cow(series.samples, series.facts(5_000, dirty_note=note))
    few = predict_cow(series.samples, series.facts(5_000, dirty=window_of(1, writes=10)))
    plain = predict_cow(series.samples, series.facts(5_000))
    assert without.bytes == few.bytes == plain.bytes
    assert f"dirty-page window: {note}" in without.reasons
    assert "dirty-page window: saturated or too few writes in it to tell" in few.reasons
    fresh = predict_cow([], CowFacts(info={}, ts=1.0, rss_bytes=RSS, dirty=window_of(5, 1_000)))
    assert "dirty-page window: not used before a save was observed" in fresh.reasons


def test_a_window_far_shorter_or_longer_than_the_run_is_not_used() -> None:
    series = busy_history()  # the next run is expected to last about 6 s
    plain = predict_cow(series.samples, series.facts(5_000))
    for seconds in (1.0, 30.0):
        window = DirtyWindow(pages=5_000, seconds=seconds, writes=5_000 * seconds, page_size=PAGE)
        prediction = predict_cow(series.samples, series.facts(5_000, dirty=window))
        assert (prediction.bytes, prediction.source) == (plain.bytes, "history")
        assert any(f"window of {seconds:.0f} s not used" in r for r in prediction.reasons)
