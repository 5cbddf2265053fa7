"""Measure fork headroom for the configured instances: INFO + /proc in, HeadroomReport out.

``measure_headroom`` reads each target's INFO, proves its pid is that Redis on this host, reads
smaps/status/cgroup for it and the host's commit accounting, and runs the pure model
(``janitor.domain.headroom_model``). When the pid cannot be proven or smaps cannot be read, the
instance's figures are estimated (from status or INFO) and say so in ``estimated``/``reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from janitor.adapters.host.access import invisible_reason, unreadable_reason
from janitor.adapters.host.dirty_pages import DirtyPageWindows
from janitor.adapters.host.locality import unproven_reason, url_is_local
from janitor.adapters.host.memory import ProcessMemory, ProcReader
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.info import read_disable_thp
from janitor.app.cow import with_cow_prediction
from janitor.app.history_store import samples_by_instance
from janitor.app.report import SCHEMA_VERSION
from janitor.app.rescue.diagnosis import persistence_section, with_model_judgement
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.core.logs import get_logger
from janitor.core.units import parse_size
from janitor.domain.headroom_model import (
    Assessment,
    HeadroomPolicy,
    HostFacts,
    InstanceFacts,
    Verdict,
    assess,
    predict,
    worst,
)

__all__ = [
    "HeadroomReport",
    "InstanceHeadroom",
    "Verdict",
    "measure_headroom",
    "predict_after_freeing",
]
log = get_logger(__name__)
COW_FIELDS = ("rdb_last_cow_size", "aof_last_cow_size", "current_cow_peak")


@dataclass(frozen=True)
class InstanceHeadroom:
    """One instance's measured (or estimated) figures and the model's verdict."""

    assessment: Assessment
    persistence: dict[str, Any] | None = None
    """The ``persistence`` section (janitor.app.rescue.diagnosis); None when not read."""
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The raw INFO the figures came from (history samples keep a few fields of it)."""
    node: dict[str, str | None] | None = None
    """The node identity (role, cluster node id, shard, the URL given); see RedisTarget."""

    @property
    def url(self) -> str:
        """The masked display URL."""
        return self.assessment.facts.url

    @property
    def writes_refused(self) -> bool:
        """True when the instance refuses writes (MISCONF) since its last save failed."""
        return bool(self.persistence and self.persistence.get("writes_refused"))

    @property
    def verdict(self) -> Verdict:
        """ok / warn / critical for this instance (critical while it refuses writes)."""
        return Verdict.CRITICAL if self.writes_refused else self.assessment.verdict

    @property
    def need_to_free_bytes(self) -> int:
        """How much the dataset must shrink to get back above the margin."""
        return self.assessment.need_to_free_bytes

    @property
    def fork_charge_bytes(self) -> int:
        """What fork() charges (Σ Size of ``ac`` and not ``dc`` mappings)."""
        return self.assessment.facts.fork_charge_bytes

    @property
    def rss_bytes(self) -> int:
        """Resident memory of the Redis process."""
        return self.assessment.facts.rss_bytes

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the ``instances[]`` entries of the headroom contract)."""
        a, facts = self.assessment, self.assessment.facts
        return {
            "url": facts.url,
            "node": self.node,
            "pid": facts.pid,
            "local": facts.local,
            "estimated": facts.estimated,
            "fork_charge_bytes": facts.fork_charge_bytes,
            "largest_mapping_bytes": facts.largest_mapping_bytes,
            "rss_bytes": facts.rss_bytes,
            "cow_estimate_bytes": a.cow_estimate_bytes,
            "commit_headroom_bytes": a.commit_headroom_bytes,
            "cow_headroom_bytes": a.cow_headroom_bytes,
            "verdict": self.verdict.value,
            "need_to_free_bytes": a.need_to_free_bytes,
            "reasons": self.reasons,
            "has_cap_sys_admin": facts.has_cap_sys_admin,
            "cgroup_room_bytes": facts.cgroup_room_bytes,
            "margin_bytes": a.margin_bytes,
            "cow_model": facts.cow.to_dict() if facts.cow is not None else None,
            "persistence": self.persistence,
        }

    @property
    def reasons(self) -> list[str]:
        """The model's reasons, after the persistence message when saving is broken."""
        message = self.persistence.get("message") if self.persistence else None
        return [message, *self.assessment.reasons] if message else list(self.assessment.reasons)


@dataclass
class HeadroomReport:
    """The host's commit accounting and every instance's headroom."""

    host: HostFacts
    instances: list[InstanceHeadroom]
    policy: HeadroomPolicy
    errors: list[tuple[str, JanitorError]] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """The worst instance verdict (critical when an instance could not be reached)."""
        verdicts = [instance.verdict for instance in self.instances]
        return worst(verdicts + ([Verdict.CRITICAL] if self.errors else []))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``redis-janitor headroom --format json``."""
        host = self.host
        hugetlb = host.mem("Hugetlb")
        if hugetlb is None and host.mem("HugePages_Total") is not None:
            hugetlb = (host.mem("HugePages_Total") or 0) * (host.mem("Hugepagesize") or 0)
        document: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": "headroom",
            "verdict": self.verdict.value,
            "host": {
                "kernel_release": host.kernel_release,
                "overcommit_memory": host.overcommit_memory,
                "overcommit_ratio": host.overcommit_ratio,
                "overcommit_kbytes": host.overcommit_kbytes,
                "commit_limit_bytes": host.mem("CommitLimit"),
                "committed_as_bytes": host.mem("Committed_AS"),
                "mem_total_bytes": host.mem("MemTotal"),
                "mem_available_bytes": host.mem("MemAvailable"),
                "swap_total_bytes": host.mem("SwapTotal"),
                "swap_free_bytes": host.mem("SwapFree"),
                "hugetlb_bytes": hugetlb,
                "admin_reserve_bytes": host.admin_reserve_bytes,
                "user_reserve_bytes": host.user_reserve_bytes,
                "total_reserve_bytes": host.total_reserve_bytes,
                "margin_bytes": self.policy.margin_for(host),
                "saves_overlap": self.policy.saves_overlap,
                "need_to_free_bytes": max(
                    (i.need_to_free_bytes for i in self.instances), default=0
                ),
                "unknown": list(host.unknown),
            },
            "instances": [instance.to_dict() for instance in self.instances],
        }
        if self.errors:
            document["errors"] = [
                {"url": url, "exit_code": int(error.exit_code), "message": error.message}
                for url, error in self.errors
            ]
        return document


def policy_from_settings(settings: Settings) -> HeadroomPolicy:
    """The model's tunables from the ``[headroom]`` section."""
    section = settings.headroom
    margin = section.margin.strip()
    percent = float(margin[:-1]) if margin.endswith("%") else None
    return HeadroomPolicy(
        margin_bytes=0 if percent is not None else parse_size(margin),
        margin_percent=percent,
        cow_fraction=section.cow_fraction,
        saves_overlap=section.saves_overlap,
        counter_margin_fraction=section.counter_margin_percent / 100,
    )


def _info_int(info: Mapping[str, Any], name: str) -> int | None:
    try:
        return int(info[name])
    except (KeyError, TypeError, ValueError):
        return None


def instance_facts(
    display: str,
    info: Mapping[str, Any],
    host_is_local: bool,
    reader: ProcReader,
    tolerance_seconds: float,
) -> InstanceFacts:
    """Measure one instance from /proc when its pid is proven, else estimate from INFO."""
    pid = _info_int(info, "process_id")
    cows = [_info_int(info, name) or 0 for name in COW_FIELDS]
    info_rss = _info_int(info, "used_memory_rss") or 0
    info_size = max(info_rss, _info_int(info, "used_memory") or 0)
    base = InstanceFacts(
        url=display, pid=pid, local=False, host_known=host_is_local, estimated=True,
        fork_charge_bytes=info_size, largest_mapping_bytes=info_size, rss_bytes=info_rss,
        vm_size_bytes=info_size, has_cap_sys_admin=None, last_cow_bytes=max(cows) or None,
    )  # fmt: skip
    if not host_is_local:
        return _estimated(base, f"{display} is not on this host; figures from INFO")
    if pid is None:
        return _estimated(base, "INFO has no process_id; figures from INFO")
    process = reader.process(pid)
    why = unproven_reason(
        process, _info_int(info, "uptime_in_seconds"), reader.uptime_seconds(), tolerance_seconds
    )
    if why is not None:
        if not process.exists:  # the server answers here: say why its pid is hidden
            why = invisible_reason(reader.proc_root, pid)
        return _estimated(base, f"{why}; figures from INFO")
    return _from_process(base, process, reader)


def _estimated(facts: InstanceFacts, note: str) -> InstanceFacts:
    notes = (
        *facts.notes,
        note,
        "fork charge taken as max(used_memory_rss, used_memory): an upper bound under "
        "overcommit_memory 0/1, possibly low under 2",
    )
    return replace(facts, notes=notes)


def _from_process(base: InstanceFacts, process: ProcessMemory, reader: ProcReader) -> InstanceFacts:
    status = process.status
    changes: dict[str, Any] = {
        "local": True,
        "cgroup_path": process.cgroup_path,
        "cgroup_room_bytes": process.cgroup_room_bytes,
    }
    if status is not None:
        changes["has_cap_sys_admin"] = status.has_cap_sys_admin
        changes["vm_size_bytes"] = status.vm_size_bytes or base.vm_size_bytes
        changes["rss_bytes"] = status.vm_rss_bytes or base.rss_bytes
    notes: list[str] = []
    if process.smaps is not None:
        changes["estimated"] = False
        changes["fork_charge_bytes"] = process.smaps.fork_charge_bytes
        changes["largest_mapping_bytes"] = process.smaps.largest_mapping_bytes
    elif status is not None and status.vm_data_bytes is not None:
        changes["fork_charge_bytes"] = status.vm_data_bytes
        changes["largest_mapping_bytes"] = status.vm_data_bytes
        notes.append(
            f"{unreadable_reason(reader.proc_root, process.pid)}; fork charge taken as VmData "
            "(an upper bound: it includes MAP_NORESERVE heap)"
        )
    else:
        why = unreadable_reason(reader.proc_root, process.pid)
        return _estimated(replace(base, **changes), f"/proc/{process.pid} unreadable: {why}")
    if changes.get("has_cap_sys_admin") is None:
        notes.append("CapEff unknown: assuming no CAP_SYS_ADMIN (admin reserve applies)")
    return replace(base, notes=tuple(notes), **changes)


def assess_all(
    host: HostFacts, facts: list[InstanceFacts], policy: HeadroomPolicy
) -> list[InstanceHeadroom]:
    """Run the model for every instance, each with the others as possible overlapping saves."""
    results = []
    for index, one in enumerate(facts):
        peers = [other for i, other in enumerate(facts) if i != index and other.host_known]
        results.append(InstanceHeadroom(assess(host, one, policy, peers)))
    return results


def measure_headroom(
    targets: list[RedisTarget], settings: Settings, windows: DirtyPageWindows | None = None
) -> HeadroomReport:
    """Measure every target; raise the first error only when no target could be measured.
    With ``windows``, a local instance's dirty-page window is read and reopened (see
    ``janitor.adapters.host.dirty_pages``)."""
    section = settings.headroom
    reader = ProcReader(section.proc_root, section.cgroup_root, section.sys_root)
    host = reader.host_facts()
    thp = reader.thp_enabled()
    facts: list[InstanceFacts] = []
    persistence: dict[str, dict[str, Any]] = {}
    infos: dict[str, Mapping[str, Any]] = {}
    errors: list[tuple[str, JanitorError]] = []
    history = samples_by_instance(settings)
    for target in targets:
        try:
            with redis_errors(target.display):
                info = infos[target.display] = target.client().info()
                disable_thp = read_disable_thp(target.client())
                persistence[target.display] = persistence_section(
                    target.client(), target.url, settings.rescue.log_tail_bytes
                )
        except JanitorError as error:
            errors.append((target.display, error))
            continue
        local = url_is_local(target.url)
        measured = instance_facts(target.display, info, local, reader, section.pid_start_tolerance)
        cow_fraction = section.cow_fraction
        dirty, dirty_note = None, None
        if windows is not None and measured.local and measured.pid is not None:
            dirty, dirty_note = windows.measure(measured.pid, info)
        facts.append(
            with_cow_prediction(
                measured,
                info,
                thp_enabled=thp,
                disable_thp=disable_thp,
                cow_fraction=cow_fraction,
                samples=history.get(target.display, ()),
                dirty=dirty,
                dirty_note=None if dirty is not None else dirty_note,
            )
        )
    if errors and not facts:
        raise errors[0][1]
    policy = policy_from_settings(settings)
    nodes = {target.display: target.identity for target in targets}
    instances = [
        replace(
            _with_persistence(i, persistence.get(i.url)),
            info=infos.get(i.url, {}),
            node=nodes.get(i.url),
        )
        for i in assess_all(host, facts, policy)
    ]
    report = HeadroomReport(host, instances, policy, errors)
    for instance in report.instances:
        log.info(
            "headroom.measured",
            instance=instance.url,
            verdict=instance.verdict.value,
            fork_charge_bytes=instance.fork_charge_bytes,
            commit_headroom_bytes=instance.assessment.commit_headroom_bytes,
            cow_headroom_bytes=instance.assessment.cow_headroom_bytes,
            need_to_free_bytes=instance.need_to_free_bytes,
            estimated=instance.assessment.facts.estimated,
            writes_refused=instance.writes_refused,
        )
    return report


def _with_persistence(
    instance: InstanceHeadroom, section: dict[str, Any] | None
) -> InstanceHeadroom:
    """Attach the persistence section; an undiagnosed failed save gets the model's judgement."""
    if section is not None:
        fork_fits = instance.assessment.verdict is not Verdict.CRITICAL
        section = with_model_judgement(section, fork_fits)
    return replace(instance, persistence=section)


def predict_after_freeing(instance: InstanceHeadroom, freed_bytes: int) -> dict[str, int]:
    """The model's expected fork charge, RSS, COW and headrooms after freeing ``freed_bytes``."""
    return predict(instance.assessment, freed_bytes)
