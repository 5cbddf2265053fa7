"""Install the project in a fresh machine exactly as README's "Install (as root)" block says.

The block's lines run in order; those that need a running systemd (``systemctl``) run after the
boot, the others before it, when the container still has the host's network (pip needs PyPI).
Then the test's own server setup: Debian's Redis gets the password README wrote for the janitor.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.system.machine import Machine
from tests.system.rootfs import build_rootfs

PROJECT_INSIDE = "/root/redis-janitor"
PASSWORD_FILE = "/etc/redis-janitor/redis-password"


def readme_install_block(readme: Path) -> list[str]:
    """The command lines of the ``sh`` block after "Install (as root):" (comments dropped)."""
    text = readme.read_text()
    match = re.search(r"^Install \(as root\):\s*\n+```sh\n(.*?)^```", text, re.M | re.S)
    if match is None:
        raise AssertionError("README has no 'Install (as root):' sh block")
    lines = [line.split("  #")[0].rstrip() for line in match.group(1).splitlines()]
    return [line for line in lines if line and not line.lstrip().startswith("#")]


def split_for_boot(lines: list[str]) -> tuple[str, str]:
    """(before the boot, after it): ``systemctl`` lines need the running systemd."""
    before = [line for line in lines if not line.startswith("systemctl")]
    after = [line for line in lines if line.startswith("systemctl")]
    return "\n".join(before) + "\n", "\n".join(after) + "\n"


SERVER_SETUP = f"""
printf 'requirepass %s\\n' "$(head -n 1 {PASSWORD_FILE})" >> /etc/redis/redis.conf
"""


def start_machine(project: Path, workdir: Path, log_path: Path) -> Machine:
    """Build or reuse the rootfs, overlay it, install as README says, boot, finish the install."""
    started = time.monotonic()
    machine = Machine(lower=build_rootfs(log_path), workdir=workdir, log_path=log_path)
    machine.timings["rootfs"] = time.monotonic() - started
    machine.mount()
    try:
        machine.copy_project(project, PROJECT_INSIDE)
        before, after = split_for_boot(readme_install_block(project / "README.md"))
        began = time.monotonic()
        machine.prepare(before + SERVER_SETUP, cwd=PROJECT_INSIDE)
        machine.timings["install"] = time.monotonic() - began
        machine.boot()
        machine.sh(f"cd {PROJECT_INSIDE}\n{after}")
    except BaseException:
        machine.stop()
        machine.unmount()
        raise
    return machine
