"""Build (and cache) a Debian 12 rootfs with systemd and Debian's redis-server for the system tier.

The rootfs comes from ``debootstrap`` against the Debian mirror this host's apt is configured
with, and is cached under ``~/.cache/redis-janitor-system/`` keyed on the package list, so a
second run only mounts an overlay over it. Run as a script to build the cache ahead of time:
``python -m tests.system.rootfs``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "redis-server",
    "python3",
    "python3-venv",
    "ca-certificates",
    "procps",
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "redis-janitor-system"
_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def debian_mirror() -> str:
    """The Debian archive URI this host's apt uses (not the security archive)."""
    files: list[Path] = []
    for source in _SOURCES:
        if source.is_dir():
            files.extend(sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources")))
        elif source.is_file():
            files.append(source)
    for path in files:
        for uri in re.findall(r"(?:URIs:|^deb)\s+(?:\[[^]]*\]\s+)?(\S+)", path.read_text(), re.M):
            if re.search(r"/debian/?$", uri):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def cache_key() -> str:
    """Key of the cached rootfs: the suite and the package list."""
    text = SUITE + "\n" + "\n".join(sorted(PACKAGES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_rootfs() -> Path:
    """Where the rootfs for the current package list lives (it may not exist yet)."""
    return CACHE_ROOT / f"rootfs-{SUITE}-{cache_key()}"


def build_rootfs(log: Path | None = None) -> Path:
    """Return the cached rootfs, running debootstrap first when it is missing."""
    target = cached_rootfs()
    if (target / "usr/bin/redis-server").exists():
        return target
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building the same rootfs
        if (target / "usr/bin/redis-server").exists():
            return target
        return _debootstrap(target, log)


def _debootstrap(target: Path, log: Path | None) -> Path:
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    command = [
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(PACKAGES),
        SUITE,
        str(partial),
        debian_mirror(),
    ]
    started = time.monotonic()
    with open(log or os.devnull, "a") as out:
        if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
            raise RuntimeError(f"debootstrap from {command[-1]} failed; see {log}")
    # Debian's postinst enabled redis-server.service; the machine id is made at first boot.
    (partial / "etc/machine-id").write_text("")
    partial.rename(target)
    print(f"rootfs: debootstrap took {time.monotonic() - started:.0f}s", file=sys.stderr)
    return target


if __name__ == "__main__":
    print(build_rootfs(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
