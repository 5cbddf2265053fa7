"""The fork-headroom model: will the next BGSAVE fork succeed, and will its copy-on-write fit?

Pure: plain dataclasses in (``HostFacts``, ``InstanceFacts``, ``HeadroomPolicy``), plain
dataclasses out (``Assessment``). The kernel rules are those of docs/domain.md §2:

* mode 2 (never overcommit): ``Committed_AS + fork_charge < CommitLimit - admin_reserve (without
  CAP_SYS_ADMIN) - min(VmSize/32, user_reserve)``, minus a margin for the kernel's approximate
  per-CPU counter (``counter_margin_fraction`` of RAM);
* mode 0, kernel ≥ 5.2: each accountable mapping must be ≤ MemTotal + SwapTotal;
* mode 0, older kernels: each accountable mapping must be < the free estimate ``MemFree + Buffers +
  Cached + SwapCached - Shmem + SwapFree + SReclaimable (+ KReclaimable - SReclaimable on 4.20-5.1)
  - totalreserve - admin_reserve (without CAP_SYS_ADMIN)``;
* mode 1: never refused.

Copy-on-write is judged in every mode: the expected COW (from ``janitor.domain.cow_model`` when
the caller provides its prediction; else the largest of the last dumps' COW and the running
one's peak, or ``cow_fraction`` x RSS for an instance that never forked) against
MemAvailable and, when the process is in a limited cgroup, ``memory.max - memory.current``.

How freeing moves the figures (the assumption the cleanup's "after" measurement checks):

* mode 2: jemalloc maps its heap accountable and decommits freed extents, so freeing N bytes lowers
  the fork charge by N **and** Committed_AS by N (the parent's own charge): commit headroom grows
  by 2N;
* modes 0/1: the heap is MAP_NORESERVE (not in the charge); freeing N bytes lowers RSS by N and
  returns N to MemFree/MemAvailable (and the cgroup): the old-kernel free estimate and the COW room
  grow by N, accountable mapping sizes do not change (so freeing cannot fix mode 0 ≥ 5.2);
* the COW estimate stays as measured, except when it is ``cow_fraction`` x RSS: it shrinks by
  ``cow_fraction`` x N.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from janitor.domain.cow_model import CowPrediction


class Verdict(StrEnum):
    """Monitoring-plugin style verdict; ``exit_code`` is what ``redis-janitor headroom`` returns."""

    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"

    @property
    def exit_code(self) -> int:
        """0 ok, 1 warn, 2 critical."""
        return {Verdict.OK: 0, Verdict.WARN: 1, Verdict.CRITICAL: 2}[self]


def worst(verdicts: list[Verdict]) -> Verdict:
    """The most severe verdict of ``verdicts`` (ok for none)."""
    return max(verdicts, key=lambda v: v.exit_code, default=Verdict.OK)


@dataclass(frozen=True)
class HostFacts:
    """What this host's /proc says (None where a file could not be read)."""

    kernel_release: str | None
    kernel_version: tuple[int, int, int] | None
    overcommit_memory: int | None
    overcommit_ratio: int | None
    overcommit_kbytes: int | None
    admin_reserve_bytes: int | None
    user_reserve_bytes: int | None
    total_reserve_bytes: int | None
    meminfo: Mapping[str, int] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()

    def mem(self, name: str) -> int | None:
        """One /proc/meminfo figure in bytes (None when absent)."""
        return self.meminfo.get(name)


@dataclass(frozen=True)
class InstanceFacts:
    """What is known about one Redis process (measured, or estimated from INFO)."""

    url: str
    pid: int | None
    local: bool
    host_known: bool
    estimated: bool
    fork_charge_bytes: int
    largest_mapping_bytes: int
    rss_bytes: int
    vm_size_bytes: int
    has_cap_sys_admin: bool | None
    last_cow_bytes: int | None
    cgroup_path: str | None = None
    cgroup_room_bytes: int | None = None
    notes: tuple[str, ...] = ()
    cow: CowPrediction | None = None
    """The COW model's expected COW; None falls back to ``last_cow_bytes``/``cow_fraction``."""


@dataclass(frozen=True)
class HeadroomPolicy:
    """The tunables of ``[headroom]`` the model uses."""

    margin_bytes: int = 0
    margin_percent: float | None = 5.0
    cow_fraction: float = 0.5
    saves_overlap: bool = True
    counter_margin_fraction: float = 0.004

    def margin_for(self, host: HostFacts) -> int:
        """The safety margin in bytes (a percent of MemTotal when given as a percent)."""
        if self.margin_percent is None:
            return self.margin_bytes
        return int((host.mem("MemTotal") or 0) * self.margin_percent / 100)


@dataclass(frozen=True)
class Assessment:
    """The model's answer for one instance, with the slopes ``predict`` uses."""

    facts: InstanceFacts
    verdict: Verdict
    reasons: list[str]
    commit_headroom_bytes: int | None
    cow_headroom_bytes: int | None
    cow_estimate_bytes: int
    need_to_free_bytes: int
    margin_bytes: int
    commit_gain_per_byte: float
    cow_gain_per_byte: float
    charge_drop_per_byte: float
    cow_drop_per_byte: float


def _bytes(value: int) -> str:
    return f"{value / 2**30:.2f} GiB" if abs(value) >= 2**30 else f"{value / 2**20:.1f} MiB"


def _need(headroom: int, margin: int, gain_per_byte: float) -> int:
    """Bytes to free so ``headroom`` reaches ``margin`` when each byte adds ``gain_per_byte``."""
    if headroom >= margin or gain_per_byte <= 0:
        return 0
    return math.ceil((margin - headroom) / gain_per_byte)


def _grade(headroom: int, margin: int) -> Verdict:
    if headroom < 0:
        return Verdict.CRITICAL
    return Verdict.WARN if headroom < margin else Verdict.OK


def cow_estimate(facts: InstanceFacts, policy: HeadroomPolicy) -> tuple[int, bool]:
    """Expected COW in bytes, and whether it is the ``cow_fraction`` x RSS guess."""
    if facts.cow is not None:
        return facts.cow.bytes, facts.cow.guessed
    if facts.last_cow_bytes:
        return facts.last_cow_bytes, False
    return int(facts.rss_bytes * policy.cow_fraction), True


def old_kernel_free_estimate(host: HostFacts, has_admin: bool) -> int | None:
    """The free-memory estimate of mode 0 before 5.2 (``__vm_enough_memory``), in bytes."""
    names = ("MemFree", "Buffers", "Cached", "SwapCached", "Shmem", "SwapFree", "SReclaimable")
    values = [host.mem(name) for name in names]
    if any(v is None for v in values) or host.total_reserve_bytes is None:
        return None
    free, buffers, cached, swap_cached, shmem, swap_free, sreclaimable = (v or 0 for v in values)
    estimate = free + buffers + cached + swap_cached - shmem + swap_free + sreclaimable
    version = host.kernel_version or (0, 0, 0)
    if (4, 20) <= version[:2] < (5, 2):
        estimate += (host.mem("KReclaimable") or sreclaimable) - sreclaimable
    estimate -= host.total_reserve_bytes
    if not has_admin:
        estimate -= host.admin_reserve_bytes or 0
    return estimate


def commit_check(
    host: HostFacts, facts: InstanceFacts, charges: int, policy: HeadroomPolicy
) -> tuple[int | None, float, float, str]:
    """Return (commit headroom, gain per freed byte, charge drop per byte, explanation)."""
    mode = host.overcommit_memory
    has_admin = bool(facts.has_cap_sys_admin)
    if mode == 1:
        return None, 0.0, 0.0, "overcommit_memory=1: the kernel never refuses the fork"
    if mode == 2:
        limit, committed = host.mem("CommitLimit"), host.mem("Committed_AS")
        if limit is None or committed is None:
            return None, 2.0, 1.0, "CommitLimit/Committed_AS unknown"
        admin = 0 if has_admin else host.admin_reserve_bytes or 0
        user = min(facts.vm_size_bytes // 32, host.user_reserve_bytes or 0)
        counter = int((host.mem("MemTotal") or 0) * policy.counter_margin_fraction)
        allowed = limit - admin - user - counter
        headroom = allowed - committed - charges
        why = (
            f"overcommit_memory=2: Committed_AS {_bytes(committed)} + fork charge "
            f"{_bytes(charges)} against {_bytes(allowed)} allowed (CommitLimit "
            f"{_bytes(limit)} - admin reserve {_bytes(admin)} - user reserve {_bytes(user)} - "
            f"counter margin {_bytes(counter)})"
        )
        return headroom, 2.0, 1.0, why
    if mode == 0:
        version = host.kernel_version
        if version is None:
            return None, 0.0, 0.0, "kernel release unknown (the mode-0 rule depends on it)"
        if version[:2] >= (5, 2):
            total, swap = host.mem("MemTotal"), host.mem("SwapTotal")
            if total is None or swap is None:
                return None, 0.0, 0.0, "MemTotal/SwapTotal unknown"
            headroom = total + swap - facts.largest_mapping_bytes
            why = (
                f"overcommit_memory=0 (kernel ≥ 5.2): largest accountable mapping "
                f"{_bytes(facts.largest_mapping_bytes)} against MemTotal + SwapTotal "
                f"{_bytes(total + swap)}"
            )
            return headroom, 0.0, 0.0, why
        free = old_kernel_free_estimate(host, has_admin)
        if free is None:
            return None, 1.0, 0.0, "free-memory estimate unknown (meminfo or zoneinfo unreadable)"
        headroom = free - facts.largest_mapping_bytes
        why = (
            f"overcommit_memory=0 (kernel {host.kernel_release}, before 5.2): largest "
            f"accountable mapping {_bytes(facts.largest_mapping_bytes)} against the free "
            f"estimate {_bytes(free)}"
        )
        return headroom, 1.0, 0.0, why
    return None, 0.0, 0.0, "overcommit_memory unknown (/proc/sys/vm unreadable)"


def assess(
    host: HostFacts,
    facts: InstanceFacts,
    policy: HeadroomPolicy,
    peers: list[InstanceFacts] | None = None,
) -> Assessment:
    """Judge one instance; ``peers`` are the other local instances whose saves may overlap."""
    margin = policy.margin_for(host)
    overlapping = [p for p in peers or [] if p.host_known] if policy.saves_overlap else []
    cow, guessed = cow_estimate(facts, policy)
    cow_drop = policy.cow_fraction if guessed else 0.0
    prefix = "estimated: " if facts.estimated else ""
    reasons = [prefix + note for note in facts.notes]
    if not facts.host_known:
        reasons.append(
            "the instance is not on this host: its host's memory cannot be measured here "
            "(run redis-janitor on the Redis host)"
        )
        return Assessment(
            facts, Verdict.WARN, reasons, None, None, cow, 0, margin, 0.0, 1 + cow_drop,
            1.0 if host.overcommit_memory == 2 else 0.0, cow_drop,
        )  # fmt: skip
    charges = facts.fork_charge_bytes + sum(p.fork_charge_bytes for p in overlapping)
    commit_room, commit_gain, charge_drop, why = commit_check(host, facts, charges, policy)
    commit_verdict, commit_need = _judge_commit(commit_room, margin, commit_gain, why, reasons)
    cow_room, cow_basis = _cow_room(host, facts, overlapping, cow, policy)
    source = _cow_source(facts, policy, guessed)
    cow_verdict = _grade(cow_room, margin) if cow_room is not None else Verdict.WARN
    cow_need = _need(cow_room, margin, 1 + cow_drop) if cow_room is not None else 0
    if cow_room is None:
        reasons.append("copy-on-write: cannot judge, MemAvailable unknown")
    else:
        state = {"ok": "fits", "warn": "little room", "critical": "may run out of memory"}
        reasons.append(
            f"copy-on-write {state[cow_verdict.value]}: expected COW {_bytes(cow)} ({source}) "
            f"against {cow_basis}; headroom {_bytes(cow_room)}"
        )
    if facts.cow is not None:
        reasons.extend(f"copy-on-write model: {why}" for why in facts.cow.reasons)
    if overlapping and charges != facts.fork_charge_bytes:
        reasons.append(f"saves may overlap with {len(overlapping)} other instance(s) on this host")
    return Assessment(
        facts, worst([commit_verdict, cow_verdict]), reasons, commit_room, cow_room, cow,
        max(commit_need, cow_need), margin, commit_gain, 1 + cow_drop, charge_drop, cow_drop,
    )  # fmt: skip


def _cow_source(facts: InstanceFacts, policy: HeadroomPolicy, guessed: bool) -> str:
    """How the expected COW was reached, for the reason line."""
    if guessed:
        return f"{policy.cow_fraction:g} x RSS, never forked"
    if facts.cow is None or facts.cow.source == "last_cow":
        return "measured"
    return f"{facts.cow.source}, {facts.cow.saves_observed} save(s) observed" + (
        ", estimated" if facts.cow.estimated else ""
    )


def _judge_commit(
    room: int | None, margin: int, gain: float, why: str, reasons: list[str]
) -> tuple[Verdict, int]:
    """Grade the commit check, append its reason, and return (verdict, bytes to free)."""
    if room is None:
        never_refused = why.startswith("overcommit_memory=1")
        reasons.append(f"fork: {why}" if never_refused else f"fork: cannot judge, {why}")
        return (Verdict.OK if never_refused else Verdict.WARN), 0
    verdict = _grade(room, margin)
    state = {"ok": "fits", "warn": "little room", "critical": "will be refused"}
    reasons.append(f"fork {state[verdict.value]}: {why}; headroom {_bytes(room)}")
    if verdict is not Verdict.OK and gain == 0:
        reasons.append("freeing keys does not shrink accountable mappings; restart Redis")
    return verdict, _need(room, margin, gain)


def _cow_room(
    host: HostFacts,
    facts: InstanceFacts,
    overlapping: list[InstanceFacts],
    cow: int,
    policy: HeadroomPolicy,
) -> tuple[int | None, str]:
    available = host.mem("MemAvailable")
    if available is None:
        return None, ""
    host_cow = cow + sum(cow_estimate(p, policy)[0] for p in overlapping)
    room, basis = available - host_cow, f"MemAvailable {_bytes(available)}"
    if facts.cgroup_room_bytes is not None:
        same_group = [p for p in overlapping if p.cgroup_path == facts.cgroup_path]
        group_cow = cow + sum(cow_estimate(p, policy)[0] for p in same_group)
        if facts.cgroup_room_bytes - group_cow < room:
            room = facts.cgroup_room_bytes - group_cow
            basis = f"cgroup room {_bytes(facts.cgroup_room_bytes)} (memory.max - memory.current)"
    return room, basis


def predict(assessment: Assessment, freed_bytes: int) -> dict[str, int]:
    """The figures the model expects after the instance frees ``freed_bytes`` (see module doc)."""
    facts = assessment.facts
    prediction = {
        "freed_bytes": freed_bytes,
        "fork_charge_bytes": max(
            0, facts.fork_charge_bytes - int(freed_bytes * assessment.charge_drop_per_byte)
        ),
        "rss_bytes": max(0, facts.rss_bytes - freed_bytes),
        "cow_estimate_bytes": max(
            0, assessment.cow_estimate_bytes - int(freed_bytes * assessment.cow_drop_per_byte)
        ),
    }
    if assessment.commit_headroom_bytes is not None:
        gain = int(freed_bytes * assessment.commit_gain_per_byte)
        prediction["commit_headroom_bytes"] = assessment.commit_headroom_bytes + gain
    if assessment.cow_headroom_bytes is not None:
        gain = int(freed_bytes * assessment.cow_gain_per_byte)
        prediction["cow_headroom_bytes"] = assessment.cow_headroom_bytes + gain
    return prediction
