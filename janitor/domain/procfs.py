"""Pure parsers for the /proc (and cgroup v2) files the headroom model needs.

Every function takes the text of one file and returns plain data; none reads anything itself
(``adapters.host.memory`` does the reading). Sizes are returned in bytes; the kernel writes most of
them in kB (KiB) or pages, which are converted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KIB = 1024
CAP_SYS_ADMIN_BIT = 21
_SIZE_LINE = re.compile(r"^(\w[\w()]*):\s+(\d+)(?:\s+kB)?\s*$")
_MAPPING_HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+\s")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_meminfo(text: str) -> dict[str, int]:
    """Return ``/proc/meminfo`` as ``{field: value}``; ``kB`` values become bytes.

    Fields without a unit (``HugePages_Total``) are counts and stay as they are.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        match = _SIZE_LINE.match(line.strip())
        if match:
            number = int(match.group(2))
            values[match.group(1)] = number * KIB if line.rstrip().endswith("kB") else number
    return values


def parse_int_file(text: str) -> int:
    """Return the single integer in a ``/proc/sys`` file such as ``overcommit_memory``."""
    return int(text.strip().split()[0])


def parse_kernel_version(release: str) -> tuple[int, int, int]:
    """Return ``(major, minor, patch)`` of ``sys/kernel/osrelease`` (``3.10.0-1160.el7``)."""
    match = _VERSION.match(release.strip())
    if not match:
        raise ValueError(f"not a kernel release: {release.strip()!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True)
class Zone:
    """The figures of one memory zone that ``calculate_totalreserve_pages`` uses (in pages)."""

    node: int
    name: str
    high_pages: int
    managed_pages: int
    lowmem_reserve_pages: tuple[int, ...]

    @property
    def reserve_pages(self) -> int:
        """max(lowmem_reserve) + high watermark, capped at the zone's managed pages."""
        reserve = max(self.lowmem_reserve_pages, default=0) + self.high_pages
        return min(reserve, self.managed_pages)


def parse_zoneinfo(text: str) -> list[Zone]:
    """Return the zones of ``/proc/zoneinfo``.

    ``protection: (…)`` is the zone's ``lowmem_reserve[]``; its entries for the zone itself and
    the zones below are 0, so the maximum over the whole tuple is the kernel's max over j ≥ i.
    Kernels without a ``managed`` line (before 3.8) cap at ``present`` instead.
    """
    zones: list[Zone] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            managed = current.get("managed", current.get("present", 0))
            zones.append(
                Zone(
                    node=int(str(current["node"])),
                    name=str(current["name"]),
                    high_pages=int(str(current.get("high", 0))),
                    managed_pages=int(str(managed)),
                    lowmem_reserve_pages=tuple(current.get("protection", ())),  # type: ignore[arg-type]
                )
            )

    for raw in text.splitlines():
        line = raw.strip()
        header = re.match(r"^Node\s+(\d+),\s+zone\s+(\S+)", line)
        if header:
            close()
            current = {"node": header.group(1), "name": header.group(2)}
            continue
        if current is None:
            continue
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("high", "managed", "present") and parts[1].isdigit():
            current.setdefault(parts[0], int(parts[1]))
        elif line.startswith("protection:"):
            numbers = re.findall(r"\d+", line)
            current["protection"] = tuple(int(n) for n in numbers)
    close()
    return zones


def total_reserve_bytes(zones: list[Zone], page_size: int) -> int:
    """``totalreserve_pages`` as ``calculate_totalreserve_pages`` computes it, in bytes."""
    return sum(zone.reserve_pages for zone in zones) * page_size


@dataclass(frozen=True)
class SmapsSummary:
    """What fork() charges for one process, from ``/proc/<pid>/smaps``."""

    fork_charge_bytes: int
    largest_mapping_bytes: int
    accountable_mappings: int
    mappings: int
    rss_bytes: int


def parse_smaps(text: str) -> SmapsSummary:
    """Sum ``Size`` over mappings whose VmFlags hold ``ac`` and not ``dc`` (see docs/domain.md §2).

    ``ac`` is VM_ACCOUNT (private, writable, not MAP_NORESERVE); ``dc`` is VM_DONTCOPY, which
    fork() skips. The largest such mapping is what mode 0 checks on its own.
    """
    charge = largest = accountable = mappings = rss = 0
    size = 0
    for line in text.splitlines():
        if _MAPPING_HEADER.match(line):
            mappings += 1
            size = 0
        elif line.startswith("Size:"):
            size = int(line.split()[1]) * KIB
        elif line.startswith("Rss:"):
            rss += int(line.split()[1]) * KIB
        elif line.startswith("VmFlags:"):
            flags = set(line.split()[1:])
            if "ac" in flags and "dc" not in flags:
                accountable += 1
                charge += size
                largest = max(largest, size)
    if mappings and "VmFlags:" not in text:
        raise ValueError("smaps has no VmFlags lines (kernel older than 3.8?)")
    return SmapsSummary(charge, largest, accountable, mappings, rss)


@dataclass(frozen=True)
class ProcessStatus:
    """The fields of ``/proc/<pid>/status`` the model uses."""

    name: str
    vm_size_bytes: int | None
    vm_rss_bytes: int | None
    vm_data_bytes: int | None
    has_cap_sys_admin: bool | None


def parse_status(text: str) -> ProcessStatus:
    """Return Name, VmSize, VmRSS, VmData and whether CapEff holds CAP_SYS_ADMIN (bit 21)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()

    def kib(name: str) -> int | None:
        value = fields.get(name)
        return int(value.split()[0]) * KIB if value else None

    cap_eff = fields.get("CapEff")
    has_admin = bool(int(cap_eff, 16) >> CAP_SYS_ADMIN_BIT & 1) if cap_eff else None
    return ProcessStatus(
        name=fields.get("Name", ""),
        vm_size_bytes=kib("VmSize"),
        vm_rss_bytes=kib("VmRSS"),
        vm_data_bytes=kib("VmData"),
        has_cap_sys_admin=has_admin,
    )


def parse_stat_start_ticks(text: str) -> int:
    """Return field 22 of ``/proc/<pid>/stat`` (start time, clock ticks after boot).

    The command name (field 2) may hold spaces and parentheses, so fields are counted from the
    last ``)``.
    """
    after_comm = text[text.rindex(")") + 1 :].split()
    return int(after_comm[22 - 3])


def parse_uptime_seconds(text: str) -> float:
    """Return the first number of ``/proc/uptime`` (seconds since boot)."""
    return float(text.split()[0])


def parse_cmdline(raw: bytes) -> list[str]:
    """Return the NUL-separated arguments of ``/proc/<pid>/cmdline``.

    Redis rewrites its title (``redis-server 127.0.0.1:6379``) into one space-separated string.
    """
    parts = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
    if len(parts) == 1:
        parts = parts[0].split()
    return parts


def parse_cgroup_v2_path(text: str) -> str | None:
    """Return the unified (v2) cgroup path from ``/proc/<pid>/cgroup`` (the ``0::`` line)."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def parse_memory_max(text: str) -> int | None:
    """Return ``memory.max`` in bytes; ``max`` (no limit) gives None."""
    value = text.strip()
    return None if value == "max" else int(value)


def parse_thp_mode(text: str) -> str:
    """Return the selected mode of ``transparent_hugepage/enabled`` (``always [madvise] never``)."""
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    raise ValueError(f"no [selected] mode in {text.strip()!r}")
