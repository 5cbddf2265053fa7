"""Reads this host's memory accounting and one process's memory from /proc (thin I/O layer).

The proc root (default ``/proc``), the cgroup root (default ``/sys/fs/cgroup``) and the sys
root (default ``/sys``, for the transparent huge pages mode) are configurable so recorded
fixture trees can stand in for a kernel. A file that cannot be read is never fatal: the value
becomes None and a short ``unknown`` marker says which file and why. Nothing here writes
anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from janitor.domain import procfs
from janitor.domain.headroom_model import HostFacts

T = TypeVar("T")

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_VM_FILES = (
    "overcommit_memory",
    "overcommit_ratio",
    "overcommit_kbytes",
    "admin_reserve_kbytes",
    "user_reserve_kbytes",
)


@dataclass
class ProcessMemory:
    """What /proc says about one pid; None fields could not be read (see ``unknown``)."""

    pid: int
    exists: bool
    name: str | None = None
    argv: list[str] = field(default_factory=list)
    start_ticks: int | None = None
    status: procfs.ProcessStatus | None = None
    smaps: procfs.SmapsSummary | None = None
    cgroup_path: str | None = None
    cgroup_max_bytes: int | None = None
    cgroup_current_bytes: int | None = None
    unknown: list[str] = field(default_factory=list)

    @property
    def cgroup_room_bytes(self) -> int | None:
        """memory.max - memory.current, or None without a limit (or when unreadable)."""
        if self.cgroup_max_bytes is None or self.cgroup_current_bytes is None:
            return None
        return self.cgroup_max_bytes - self.cgroup_current_bytes


class ProcReader:
    """Reads procfs files below ``proc_root``, cgroup v2 files below ``cgroup_root`` and the
    THP mode below ``sys_root``."""

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        sys_root: Path = Path("/sys"),
    ) -> None:
        self.proc_root = proc_root
        self.cgroup_root = cgroup_root
        self.sys_root = sys_root

    def _text(self, path: Path, unknown: list[str]) -> str | None:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            unknown.append(f"{path}: {error.strerror or type(error).__name__}")
            return None

    def _parsed(self, path: Path, parse: Callable[[str], T], unknown: list[str]) -> T | None:
        """Read and parse one file; None (and a marker) when unreadable or malformed."""
        text = self._text(path, unknown)
        if not text:
            if text == "":
                unknown.append(f"{path}: empty (no permission to read it?)")
            return None
        try:
            return parse(text)
        except (ValueError, IndexError) as error:
            unknown.append(f"{path}: cannot parse ({error})")
            return None

    def host_facts(self) -> HostFacts:
        """Read meminfo, sys/vm, osrelease and zoneinfo into HostFacts."""
        unknown: list[str] = []
        meminfo_text = self._text(self.proc_root / "meminfo", unknown)
        meminfo = procfs.parse_meminfo(meminfo_text) if meminfo_text else {}
        vm: dict[str, int | None] = {}
        for name in _VM_FILES:
            path = self.proc_root / "sys" / "vm" / name
            if name == "overcommit_kbytes" and not path.exists():
                vm[name] = None  # kernels before 3.14 have no such file: not an error
                continue
            text = self._text(path, unknown)
            vm[name] = _int_or_none(text, path, unknown)
        release_text = self._text(self.proc_root / "sys" / "kernel" / "osrelease", unknown)
        release = release_text.strip() if release_text else None
        version = None
        if release:
            try:
                version = procfs.parse_kernel_version(release)
            except ValueError as error:
                unknown.append(str(error))
        zones = self._parsed(self.proc_root / "zoneinfo", procfs.parse_zoneinfo, unknown)
        reserve = procfs.total_reserve_bytes(zones, PAGE_SIZE) if zones else None
        return HostFacts(
            kernel_release=release,
            kernel_version=version,
            overcommit_memory=vm["overcommit_memory"],
            overcommit_ratio=vm["overcommit_ratio"],
            overcommit_kbytes=vm["overcommit_kbytes"],
            admin_reserve_bytes=_kib(vm["admin_reserve_kbytes"]),
            user_reserve_bytes=_kib(vm["user_reserve_kbytes"]),
            total_reserve_bytes=reserve,
            meminfo=meminfo,
            unknown=tuple(unknown),
        )

    def thp_enabled(self, unknown: list[str] | None = None) -> str | None:
        """The transparent huge pages mode (``always``/``madvise``/``never``), None if unknown."""
        path = self.sys_root / "kernel" / "mm" / "transparent_hugepage" / "enabled"
        if not path.exists():
            return None  # kernel without THP: no huge pages to fear
        return self._parsed(path, procfs.parse_thp_mode, [] if unknown is None else unknown)

    def uptime_seconds(self) -> float | None:
        """Seconds since boot from ``uptime`` (None when unreadable)."""
        return self._parsed(self.proc_root / "uptime", procfs.parse_uptime_seconds, [])

    def process(self, pid: int) -> ProcessMemory:
        """Read comm, cmdline, stat, status, smaps and the cgroup limit of ``pid``."""
        base = self.proc_root / str(pid)
        found = ProcessMemory(pid=pid, exists=base.is_dir())
        if not found.exists:
            found.unknown.append(f"{base}: no such process")
            return found
        unknown = found.unknown
        comm = self._text(base / "comm", unknown)
        found.name = comm.strip() if comm else None
        try:
            found.argv = procfs.parse_cmdline((base / "cmdline").read_bytes())
        except OSError as error:
            unknown.append(f"{base / 'cmdline'}: {error.strerror}")
        found.start_ticks = self._parsed(base / "stat", procfs.parse_stat_start_ticks, unknown)
        found.status = self._parsed(base / "status", procfs.parse_status, unknown)
        if found.status is not None:
            found.name = found.name or found.status.name
        found.smaps = self._parsed(base / "smaps", procfs.parse_smaps, unknown)
        self._read_cgroup(found, base)
        return found

    def _read_cgroup(self, found: ProcessMemory, base: Path) -> None:
        text = self._text(base / "cgroup", found.unknown)
        path = procfs.parse_cgroup_v2_path(text) if text else None
        found.cgroup_path = path
        if path is None:
            return
        group = self.cgroup_root / path.lstrip("/")
        limit_path = group / "memory.max"
        if not limit_path.exists():
            return  # root cgroup or cgroup v1: no v2 limit to honour
        limit = self._parsed(limit_path, procfs.parse_memory_max, found.unknown)
        current = self._parsed(group / "memory.current", procfs.parse_int_file, found.unknown)
        if limit is not None and current is not None:
            found.cgroup_max_bytes, found.cgroup_current_bytes = limit, current


def _kib(value: int | None) -> int | None:
    return None if value is None else value * procfs.KIB


def _int_or_none(text: str | None, path: Path, unknown: list[str]) -> int | None:
    if text is None:
        return None
    try:
        return procfs.parse_int_file(text)
    except (ValueError, IndexError):
        unknown.append(f"{path}: not a number")
        return None
