"""The headroom model on recorded /proc trees, one per kernel and mode (tests/fixtures/proc).

Expected figures are worked out by hand from the fixture files, in kB as /proc writes them
(``KIB`` turns them into bytes); the margin is the default 5 % of MemTotal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from janitor.adapters.host.memory import ProcReader
from janitor.app.headroom import InstanceHeadroom, instance_facts
from janitor.domain.headroom_model import HeadroomPolicy, Verdict, assess

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proc"
KIB = 1024
URL = "redis://127.0.0.1:6379"
BASE_CHARGE_KB = 24 + 132 + 1056 + 16 + 4 * 8192 + 132  # .data, .bss, brk, libc, stacks, stack
BASE_RSS_KB = 3736


def measure(
    scenario: str,
    pid: int,
    cgroup: str = "no-cgroup-root",
    policy: HeadroomPolicy | None = None,
    **info_changes: Any,
) -> InstanceHeadroom:
    """Read the fixture tree for ``pid`` as the headroom command would, and run the model."""
    root = FIXTURES / scenario
    reader = ProcReader(root, root / cgroup)
    info = {**json.loads((root / "redis_info.json").read_text())[str(pid)], **info_changes}
    facts = instance_facts(URL, info, True, reader, 10.0)
    return InstanceHeadroom(assess(reader.host_facts(), facts, policy or HeadroomPolicy()))


def margin_bytes(mem_total_kb: int) -> int:
    return int(mem_total_kb * KIB * 5 / 100)


def test_kernel_3_10_mode0_three_gb_instance_cannot_fork_with_two_gb_free() -> None:
    result = measure("k3.10-mode0-cannot-fork", 3210)
    facts = result.assessment.facts
    assert facts.local and not facts.estimated
    assert facts.has_cap_sys_admin is False
    assert result.fork_charge_bytes == (BASE_CHARGE_KB + 3145728) * KIB
    assert facts.largest_mapping_bytes == 3145728 * KIB
    total_reserve_kb = (3977 + (4990 + 1000) + 2000) * 4  # DMA capped at managed pages
    free_kb = 1258000 + 2100 + 842000 + 0 - 9800 + 0 + 98500 - total_reserve_kb - 8192
    assert free_kb == 2134740  # "2 GB free"
    assert result.assessment.commit_headroom_bytes == (free_kb - 3145728) * KIB
    assert result.verdict is Verdict.CRITICAL
    assert result.need_to_free_bytes == margin_bytes(8009180) - (free_kb - 3145728) * KIB
    assert any("will be refused" in reason for reason in result.assessment.reasons)
    # Redis 3.2 reports no COW: half the RSS is assumed, and it fits.
    assert result.assessment.cow_estimate_bytes == (BASE_RSS_KB + 3100000) * KIB // 2


def test_kernel_3_10_mode0_swap_lets_the_fork_fit() -> None:
    result = measure("k3.10-mode0-swap-fits", 3210)
    free_kb = 2134740 + 4100000  # SwapFree counts as free in the old heuristic
    assert result.assessment.commit_headroom_bytes == (free_kb - 3145728) * KIB
    assert result.verdict is Verdict.OK
    assert result.need_to_free_bytes == 0


def test_kernel_4_19_mode0_little_room_is_a_warning() -> None:
    result = measure("k4.19-mode0-warn", 4190)
    total_reserve_kb = (3976 + (12961 + 1000) + 4000 + 0) * 4  # empty Movable zone adds 0
    free_kb = 1500000 + 50000 + 700000 - 30000 + 150000 - total_reserve_kb  # CAP_SYS_ADMIN held
    headroom = (free_kb - 1800000) * KIB
    assert result.assessment.commit_headroom_bytes == headroom
    assert result.verdict is Verdict.WARN
    assert result.need_to_free_bytes == margin_bytes(16396000) - headroom
    assert result.assessment.cow_estimate_bytes == 200 << 20


def test_kernel_5_0_mode0_counts_kreclaimable() -> None:
    result = measure("k5.0-mode0-kreclaimable", 5000)
    free_kb = 900000 + 20000 + 600000 - 20000 + 100000 + (400000 - 100000) - 21937 * 4
    assert result.assessment.commit_headroom_bytes == (free_kb - 1700000) * KIB
    assert result.verdict is Verdict.WARN  # critical if KReclaimable were ignored
    assert (free_kb - 300000 - 1700000) < 0


def test_kernel_6_1_mode0_fork_fits_despite_little_free_memory() -> None:
    result = measure("k6.1-mode0-fits", 6100, cgroup="cgroup-unlimited")
    a = result.assessment
    assert result.fork_charge_bytes == BASE_CHARGE_KB * KIB  # the heap is MAP_NORESERVE
    assert a.facts.largest_mapping_bytes == 8192 * KIB
    assert a.commit_headroom_bytes == (16384000 + 0 - 8192) * KIB
    assert result.rss_bytes == (BASE_RSS_KB + 5242880) * KIB
    assert a.cow_headroom_bytes == 9000000 * KIB - (1 << 30)
    assert a.facts.cgroup_room_bytes is None
    assert result.verdict is Verdict.OK
    assert result.need_to_free_bytes == 0


def test_cgroup_limit_narrower_than_memavailable_decides_cow() -> None:
    result = measure("k6.1-mode0-fits", 6100, cgroup="cgroup-limited")
    room = (7 << 30) - int(6.2 * (1 << 30))
    assert result.assessment.facts.cgroup_room_bytes == room
    assert result.assessment.cow_headroom_bytes == room - (1 << 30)
    assert result.verdict is Verdict.CRITICAL
    assert result.need_to_free_bytes == margin_bytes(16384000) - (room - (1 << 30))
    assert any("cgroup room" in reason for reason in result.assessment.reasons)


def test_mode1_cow_larger_than_memavailable_is_critical() -> None:
    result = measure("k5.15-mode1-cow", 5150)
    a = result.assessment
    assert a.commit_headroom_bytes is None
    assert any("never refuses" in reason for reason in a.reasons)
    assert a.cow_estimate_bytes == 6 << 30
    assert a.cow_headroom_bytes == 4000000 * KIB - (6 << 30)
    assert result.verdict is Verdict.CRITICAL
    assert result.need_to_free_bytes == margin_bytes(16384000) - a.cow_headroom_bytes


def mode2_headroom_kb(limit: int, committed: int, charge: int, mem_total: int, user: int) -> int:
    counter = mem_total * 4 // 1000  # 0.4 % of RAM for the approximate counter
    return limit - user - counter - committed - charge


def test_mode2_tight_with_overcommit_ratio() -> None:
    result = measure("k6.8-mode2-tight-ratio", 6800)
    charge = BASE_CHARGE_KB + 5242880
    assert result.fork_charge_bytes == charge * KIB
    assert 16384000 * 80 // 100 == 13107200  # the fixture's CommitLimit follows the ratio
    headroom = mode2_headroom_kb(13107200, 9437184, charge, 16384000, user=131072) * KIB
    assert result.assessment.commit_headroom_bytes == headroom
    assert result.verdict is Verdict.CRITICAL
    # freeing N lowers both the charge and Committed_AS: headroom grows 2N
    assert result.need_to_free_bytes == -(-(margin_bytes(16384000) - headroom) // 2)


def test_mode2_roomy_with_overcommit_kbytes() -> None:
    result = measure("k6.8-mode2-roomy-kbytes", 6800)
    charge = BASE_CHARGE_KB + 5242880
    headroom = mode2_headroom_kb(31457280, 9437184, charge, 16384000, user=131072) * KIB
    assert result.assessment.commit_headroom_bytes == headroom
    assert result.verdict is Verdict.OK
    assert result.need_to_free_bytes == 0


def test_mode2_with_hugetlb_pages_taken_out_of_the_commit_limit() -> None:
    reader = ProcReader(FIXTURES / "k6.8-mode2-hugetlb")
    host = reader.host_facts()
    assert host.mem("CommitLimit") == (32768000 - 8388608) * 50 // 100 * KIB
    result = measure("k6.8-mode2-hugetlb", 6808)
    charge = BASE_CHARGE_KB + 4194304
    headroom = mode2_headroom_kb(12189696, 6000000, charge, 32768000, user=131072) * KIB
    assert result.assessment.commit_headroom_bytes == headroom
    assert headroom > margin_bytes(32768000)
    assert result.verdict is Verdict.OK


def test_mode2_redis_without_cap_sys_admin_loses_the_admin_reserve() -> None:
    charge = BASE_CHARGE_KB + 2097152
    user = 2300000 // 32  # VmSize/32 is below user_reserve_kbytes here
    with_cap = measure("k6.1-mode2-no-cap-sys-admin", 4343)
    without = measure("k6.1-mode2-no-cap-sys-admin", 4242)
    assert without.assessment.facts.has_cap_sys_admin is False
    expected = mode2_headroom_kb(2097152 + 4096000, 3907229, charge, 8192000, user)
    assert with_cap.assessment.commit_headroom_bytes == expected * KIB == 50000 * KIB
    assert without.assessment.commit_headroom_bytes == (expected - 131072) * KIB
    assert with_cap.verdict is Verdict.WARN
    assert without.verdict is Verdict.CRITICAL


def test_mode2_overcommitted_host_refuses_any_fork() -> None:
    result = measure("k6.8-mode2-overcommitted", 6801)
    assert result.verdict is Verdict.CRITICAL
    assert result.assessment.commit_headroom_bytes is not None
    assert result.assessment.commit_headroom_bytes < -(1 << 30)


def test_unreadable_smaps_falls_back_to_vmdata_labelled_estimated() -> None:
    result = measure("k6.1-mode0-fits", 6101)
    facts = result.assessment.facts
    assert facts.local and facts.estimated
    assert result.fork_charge_bytes == (BASE_CHARGE_KB + 6291456) * KIB  # VmData
    assert any("smaps" in reason and "VmData" in reason for reason in result.assessment.reasons)


def test_pid_that_is_not_redis_is_not_measured() -> None:
    result = measure("k6.1-mode0-fits", 6102)
    facts = result.assessment.facts
    assert not facts.local and facts.estimated
    assert facts.rss_bytes == (BASE_RSS_KB + 5242880) * KIB  # used_memory_rss from INFO
    assert any("'python3', not a redis-server" in r for r in result.assessment.reasons)


def test_start_time_disagreeing_with_info_uptime_means_another_process() -> None:
    result = measure("k6.1-mode0-fits", 6100, uptime_in_seconds=300)
    assert result.assessment.facts.estimated
    assert any("INFO says the server has been up 300s" in r for r in result.assessment.reasons)


def test_missing_pid_means_estimate_with_reason() -> None:
    result = measure("k6.1-mode0-fits", 6100, process_id=999999)
    assert result.assessment.facts.estimated
    assert any("does not exist here" in r for r in result.assessment.reasons)


def test_unreadable_host_files_are_reported_not_fatal(tmp_path: Path) -> None:
    host = ProcReader(tmp_path).host_facts()
    assert host.overcommit_memory is None
    assert any("meminfo" in item for item in host.unknown)
    facts = instance_facts(URL, {"used_memory_rss": 1000}, True, ProcReader(tmp_path), 10.0)
    result = assess(host, facts, HeadroomPolicy())
    assert result.verdict is Verdict.WARN
    assert any("cannot judge" in reason for reason in result.reasons)


def test_malformed_process_files_become_markers_not_crashes(tmp_path: Path) -> None:
    pid_dir = tmp_path / "77"
    pid_dir.mkdir()
    (pid_dir / "comm").write_text("redis-server\n")
    (pid_dir / "cmdline").write_bytes(b"redis-server *:6379\0")
    (pid_dir / "stat").write_text("77 (redis-server) S 1\n")
    (pid_dir / "status").write_text("Name:\tredis-server\nCapEff:\tzz\n")
    (pid_dir / "smaps").write_text("")
    (pid_dir / "cgroup").write_text("0::/broken\n")
    (tmp_path / "cg" / "broken").mkdir(parents=True)
    (tmp_path / "cg" / "broken" / "memory.max").write_text("lots\n")
    (tmp_path / "cg" / "broken" / "memory.current").write_text("1\n")
    (tmp_path / "zoneinfo").write_text("Node 0, zone DMA\n        high     x\n")
    reader = ProcReader(tmp_path, tmp_path / "cg")
    found = reader.process(77)
    assert found.start_ticks is None and found.status is None and found.smaps is None
    assert found.cgroup_max_bytes is None
    markers = " | ".join(found.unknown)
    assert "stat: cannot parse" in markers
    assert "status: cannot parse" in markers
    assert "smaps: empty" in markers
    assert "memory.max: cannot parse" in markers
    facts = instance_facts(URL, {"process_id": 77, "used_memory_rss": 5}, True, reader, 10.0)
    assert facts.estimated
    assert reader.host_facts().total_reserve_bytes == 0  # unparsable watermark: no reserve
