"""Parsers of /proc text (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.adapters.host.memory import ProcReader
from janitor.domain import procfs

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proc"


def test_meminfo_kb_become_bytes_and_counts_stay() -> None:
    text = "MemTotal:       24684092 kB\nHugePages_Total:       3\nCommitLimit:    12342044 kB\n"
    values = procfs.parse_meminfo(text)
    assert values == {
        "MemTotal": 24684092 * 1024,
        "HugePages_Total": 3,
        "CommitLimit": 12342044 * 1024,
    }


def test_meminfo_parenthesised_names() -> None:
    assert procfs.parse_meminfo("Active(anon):      27036 kB\n") == {"Active(anon)": 27036 * 1024}


@pytest.mark.parametrize(
    ("release", "version"),
    [
        ("3.10.0-1160.el7.x86_64\n", (3, 10, 0)),
        ("4.19.0-21-amd64", (4, 19, 0)),
        ("6.18.44-fc-v657", (6, 18, 44)),
        ("5.4", (5, 4, 0)),
    ],
)
def test_kernel_version(release: str, version: tuple[int, int, int]) -> None:
    assert procfs.parse_kernel_version(release) == version


def test_kernel_version_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a kernel release"):
        procfs.parse_kernel_version("linux")


def test_zoneinfo_total_reserve_caps_each_zone_at_its_managed_pages() -> None:
    zones = procfs.parse_zoneinfo((FIXTURES / "k3.10-mode0-cannot-fork" / "zoneinfo").read_text())
    assert [(z.name, z.high_pages, z.managed_pages) for z in zones] == [
        ("DMA", 8, 3977),
        ("DMA32", 1000, 720000),
        ("Normal", 2000, 1277000),
    ]
    assert zones[0].lowmem_reserve_pages == (0, 2815, 7805, 7805)
    # DMA: 7805 + 8 > 3977 managed → 3977; DMA32: 4990 + 1000; Normal: 0 + 2000
    assert procfs.total_reserve_bytes(zones, 4096) == (3977 + 5990 + 2000) * 4096


def test_zoneinfo_of_a_6_x_kernel_ignores_pageset_high_lines() -> None:
    text = (FIXTURES / "modern-zoneinfo").read_text()
    zones = procfs.parse_zoneinfo(text)
    assert [z.name for z in zones] == ["DMA", "DMA32", "Normal", "Movable", "Device"]
    first_high = int(text.split("\n        high")[1].split()[0])
    assert zones[0].high_pages == first_high
    assert len(zones[0].lowmem_reserve_pages) == 5
    movable = zones[3]
    assert movable.high_pages == 32  # an empty zone still has watermarks...
    assert movable.reserve_pages == 0  # ...but reserves at most its 0 managed pages


def test_smaps_counts_ac_but_not_dc_nr_shared_or_hugetlb() -> None:
    summary = ProcReader(FIXTURES / "smaps-mix").process(7000).smaps
    assert summary is not None
    base_ac_kb = 24 + 132 + 1056 + 16 + 4 * 8192 + 132
    # + 100 kB ac; the 2 MiB "dc ac", the 1 GB "nr" heap, the shared and the hugetlb don't count
    assert summary.fork_charge_bytes == (base_ac_kb + 100) * 1024
    assert summary.largest_mapping_bytes == 8192 * 1024
    assert summary.accountable_mappings == 10
    assert summary.mappings == 25


def test_smaps_without_vmflags_is_refused() -> None:
    text = "00400000-00401000 r-xp 00000000 08:01 1 /bin/x\nSize:                  4 kB\n"
    with pytest.raises(ValueError, match="VmFlags"):
        procfs.parse_smaps(text)


def test_status_capabilities_and_sizes() -> None:
    text = "Name:\tredis-server\nVmSize:\t   60824 kB\nVmRSS:\t   12220 kB\nVmData:\t 43880 kB\n"
    with_admin = procfs.parse_status(text + "CapEff:\t000001fffeffffff\n")
    assert with_admin.has_cap_sys_admin is True
    assert with_admin.vm_size_bytes == 60824 * 1024
    assert with_admin.vm_rss_bytes == 12220 * 1024
    assert procfs.parse_status(text + "CapEff:\t0000000000000000\n").has_cap_sys_admin is False
    only_sys_admin = procfs.parse_status(text + f"CapEff:\t{1 << 21:016x}\n")
    assert only_sys_admin.has_cap_sys_admin is True
    assert procfs.parse_status(text).has_cap_sys_admin is None


def test_stat_start_time_survives_a_comm_with_spaces_and_parens() -> None:
    text = "42 (redis (x) y) S 1 42 42 0 -1 4194560 971 0 1 0 3 1 0 0 20 0 5 0 777 6228 29\n"
    assert procfs.parse_stat_start_ticks(text) == 777


def test_uptime_cmdline_cgroup_memory_max() -> None:
    assert procfs.parse_uptime_seconds("934.29 1678.79\n") == 934.29
    assert procfs.parse_cmdline(b"redis-server *:6399\0\0\0") == ["redis-server", "*:6399"]
    assert procfs.parse_cmdline(b"/usr/bin/redis-server\0--port\0007\0") == [
        "/usr/bin/redis-server",
        "--port",
        "7",
    ]
    assert procfs.parse_cgroup_v2_path("4:memory:/x\n0::/system.slice/redis.service\n") == (
        "/system.slice/redis.service"
    )
    assert procfs.parse_cgroup_v2_path("4:memory:/x\n") is None
    assert procfs.parse_memory_max("max\n") is None
    assert procfs.parse_memory_max("1073741824\n") == 1 << 30
