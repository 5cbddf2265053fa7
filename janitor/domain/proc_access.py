"""Why the janitor cannot see or read a local Redis's ``/proc/<pid>/smaps`` (pure).

The kernel shows another process's smaps only to a caller that passes its ptrace-read check:
the same uid *and* a dumpable process in a user namespace the caller is privileged over, or
CAP_SYS_PTRACE over that namespace. With ``/proc`` mounted ``hidepid=invisible`` (systemd's
``ProtectProc=invisible``) a process that fails the check is not even listed. A redis-server
under Debian's/Ubuntu's stock unit (``PrivateUsers=yes``) runs in its own user namespace, so
the same uid is not enough. These functions turn what could be observed into a reason that
names the cause and the fix (see docs/domain.md, "Under systemd").
"""

from __future__ import annotations

from dataclasses import dataclass

CAP_SYS_PTRACE_BIT = 19
DROP_IN = "systemd/redis-server.service.d/redis-janitor.conf (PrivateUsers=no)"


@dataclass(frozen=True)
class AccessFacts:
    """What the janitor could observe about its access to one pid (None: unknown)."""

    pid: int
    hidepid: str | None
    """The ``hidepid=`` option of the proc mount (``invisible``, ``2``, ...), None when absent."""
    own_uid: int | None
    own_uid_map: str | None
    own_has_cap_sys_ptrace: bool | None
    target_uid: int | None = None
    target_uid_map: str | None = None
    smaps_error: str | None = None
    """The error of opening smaps (``Permission denied`` ...), None when it was read."""


def parse_status_uid(text: str) -> int | None:
    """The real uid from the ``Uid:`` line of ``/proc/<pid>/status``."""
    for line in text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def has_cap_sys_ptrace(status_text: str) -> bool | None:
    """Whether ``CapEff`` in a status text holds CAP_SYS_PTRACE (None without the line)."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_PTRACE_BIT & 1)
    return None


def hidepid_option(mountinfo: str, mount_point: str) -> str | None:
    """The ``hidepid`` option of the proc file system mounted at ``mount_point`` (last wins)."""
    found: str | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[4] != mount_point or " - proc " not in line:
            continue
        found = None
        super_options = line.split(" - ", 1)[1].split()[2:]
        for option in ",".join(super_options).split(","):
            if option.startswith("hidepid="):
                found = option.partition("=")[2]
    return found


def _normalised_map(text: str | None) -> tuple[tuple[str, ...], ...] | None:
    if text is None:
        return None
    return tuple(tuple(line.split()) for line in text.strip().splitlines())


def other_user_namespace(facts: AccessFacts) -> bool | None:
    """True when the target's uid_map differs from ours (it runs in another user namespace)."""
    own, target = _normalised_map(facts.own_uid_map), _normalised_map(facts.target_uid_map)
    if own is None or target is None:
        return None
    return own != target


def invisible_reason(facts: AccessFacts) -> str:
    """Why the pid from INFO of a local server is not under /proc, and what to do."""
    pid = facts.pid
    if facts.hidepid in ("invisible", "2"):
        return (
            f"pid {pid} from INFO is hidden: /proc is mounted hidepid={facts.hidepid} "
            "(systemd ProtectProc=invisible), which hides processes this user may not "
            "ptrace-read; the server answers on this host, so redis-server most likely runs "
            "in its own user namespace (PrivateUsers=yes, the default of Debian's and "
            "Ubuntu's redis-server.service) or as another user (fix: install "
            f"{DROP_IN}, and run the janitor as the Redis user)"
        )
    return (
        f"pid {pid} from INFO does not exist here: Redis runs in another pid namespace "
        "(a container) or the address is forwarded to another host (run the janitor in "
        "Redis's own pid namespace or host)"
    )


def unreadable_reason(facts: AccessFacts) -> str:
    """Why smaps of a visible pid could not be read, and what to do."""
    pid, error = facts.pid, facts.smaps_error or "unreadable"
    if facts.own_has_cap_sys_ptrace is False:
        capability = "the janitor lacks CAP_SYS_PTRACE"
    else:
        capability = "CAP_SYS_PTRACE does not cover it"
    if facts.target_uid is not None and facts.own_uid is not None:
        if facts.target_uid != facts.own_uid:
            return (
                f"/proc/{pid}/smaps: {error}: redis-server runs as uid {facts.target_uid}, the "
                f"janitor as uid {facts.own_uid}, and {capability} (fix: run the janitor as "
                "the Redis user, User=/Group= in a drop-in)"
            )
        if other_user_namespace(facts):
            return (
                f"/proc/{pid}/smaps: {error}: redis-server runs in its own user namespace "
                "(PrivateUsers=yes in its unit, the default of Debian's and Ubuntu's "
                f"redis-server.service), so the same uid is not enough and {capability} "
                f"(fix: install {DROP_IN})"
            )
        return (
            f"/proc/{pid}/smaps: {error}: same uid {facts.own_uid}, but the kernel refuses "
            f"ptrace-read access (redis-server is not dumpable or in another user namespace) "
            f"and {capability} (fix: install {DROP_IN})"
        )
    return f"/proc/{pid}/smaps: {error} (run the janitor as the Redis user)"
