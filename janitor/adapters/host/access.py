"""Gathers what explains a hidden pid or an unreadable smaps (thin I/O for proc_access).

Only opens files that the kernel shows to anyone: the proc mount's options, uid_map, status;
smaps is opened (not read) once more to learn the error. The texts come from
``janitor.domain.proc_access``.
"""

from __future__ import annotations

import os
from pathlib import Path

from janitor.domain import proc_access
from janitor.domain.proc_access import AccessFacts


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _open_error(path: Path) -> str | None:
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


def access_facts(proc_root: Path, pid: int) -> AccessFacts:
    """Observe the proc mount, our own identity and (when visible) the target's."""
    mountinfo = _read(Path("/proc/self/mountinfo")) or ""
    own_status = _read(proc_root / "self" / "status")
    target_status = _read(proc_root / str(pid) / "status")
    return AccessFacts(
        pid=pid,
        hidepid=proc_access.hidepid_option(mountinfo, str(proc_root)),
        own_uid=os.getuid(),
        own_uid_map=_read(proc_root / "self" / "uid_map"),
        own_has_cap_sys_ptrace=proc_access.has_cap_sys_ptrace(own_status) if own_status else None,
        target_uid=proc_access.parse_status_uid(target_status) if target_status else None,
        target_uid_map=_read(proc_root / str(pid) / "uid_map"),
        smaps_error=_open_error(proc_root / str(pid) / "smaps"),
    )


def invisible_reason(proc_root: Path, pid: int) -> str:
    """Why a local server's pid is not under ``proc_root``."""
    return proc_access.invisible_reason(access_facts(proc_root, pid))


def unreadable_reason(proc_root: Path, pid: int) -> str:
    """Why ``proc_root/<pid>/smaps`` cannot be read."""
    return proc_access.unreadable_reason(access_facts(proc_root, pid))
