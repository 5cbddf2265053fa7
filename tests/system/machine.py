"""A throwaway Debian machine booted with systemd-nspawn: overlay, prepare, boot, run, stop.

The cached rootfs (``tests.system.rootfs``) is the read-only lower layer of an overlay, so every
run starts from the same clean system. ``prepare`` runs commands with the host's network (pip
needs PyPI); ``boot`` starts systemd as PID 1 with ``--private-network`` so the container's Redis
never meets the host's. Commands run inside with ``nsenter``. ``stop`` sends SIGRTMIN+3 to the
container's PID 1 (systemd's "halt") and then kills by pid whatever is left in its pid namespace.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
INNER_CA = "/run/host-ca.crt"
INNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", "*.pyc",
)  # fmt: skip


def wait_until(check: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)  # polling interval, not a wait for the condition


def pip_settings() -> tuple[dict[str, str], list[str]]:
    """The host's pip index settings as environment variables, and local dirs they name.

    Reads ``PIP_INDEX_URL``/``PIP_EXTRA_INDEX_URL``/``PIP_FIND_LINKS`` and ``/etc/pip.conf``;
    local (``file://`` or plain path) locations are bind-mounted read-only at the same path.
    """
    env: dict[str, str] = {"PIP_CERT": INNER_CA, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    parser = configparser.ConfigParser()
    parser.read(["/etc/pip.conf", "/etc/xdg/pip/pip.conf"])
    for option, variable in (
        ("index-url", "PIP_INDEX_URL"),
        ("extra-index-url", "PIP_EXTRA_INDEX_URL"),
        ("find-links", "PIP_FIND_LINKS"),
    ):
        value = os.environ.get(variable) or parser.get("global", option, fallback="")
        if value.strip():
            env[variable] = " ".join(value.split())
    binds: list[str] = []
    for variable in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        for location in env.get(variable, "").split():
            path = location.removeprefix("file://")
            if path.startswith("/") and Path(path).is_dir():
                binds.append(path)
    if "PIP_DEFAULT_TIMEOUT" in os.environ:
        env["PIP_DEFAULT_TIMEOUT"] = os.environ["PIP_DEFAULT_TIMEOUT"]
    return env, binds


@dataclass
class Machine:
    """One overlay of the cached rootfs under ``workdir``, booted at most once."""

    lower: Path
    workdir: Path
    log_path: Path
    nspawn: subprocess.Popen[bytes] | None = None
    leader: int | None = None
    pid_namespace: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The merged root file system."""
        return self.workdir / "merged"

    def mount(self) -> None:
        """Mount the overlay (upper and work dirs under ``workdir``)."""
        for name in ("upper", "work", "merged"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        options = (
            f"lowerdir={self.lower},upperdir={self.workdir / 'upper'},"
            f"workdir={self.workdir / 'work'}"
        )
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(self.root)], check=True
        )

    def copy_project(self, source: Path, inside: str) -> None:
        """Copy the project's source tree (no venv, no caches) to ``inside``."""
        shutil.copytree(source, self.root / inside.lstrip("/"), ignore=_IGNORED)

    def prepare(self, script: str, cwd: str = "/", env: Mapping[str, str] | None = None) -> None:
        """Run ``script`` under ``sh -e`` in the (not booted) container with the host's network."""
        pip_env, pip_binds = pip_settings()
        cache = self.lower.parent / "pip-cache"
        cache.mkdir(exist_ok=True)
        command = [
            "systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "-D", str(self.root),
            f"--bind-ro={HOST_CA}:{INNER_CA}", f"--bind={cache}:/root/.cache/pip",
            f"--chdir={cwd}", f"--setenv=PATH={INNER_PATH}",
        ]  # fmt: skip
        command += [f"--bind-ro={path}" for path in pip_binds]
        command += [
            f"--setenv={name}={value}" for name, value in {**pip_env, **(env or {})}.items()
        ]
        with self.log_path.open("a") as log:
            log.write(f"\n### prepare\n{script}\n")
            log.flush()
            completed = subprocess.run(
                [*command, "/bin/sh", "-ec", script],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if completed.returncode != 0:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])
            raise AssertionError(
                f"installing in the container failed (log {self.log_path}):\n{tail}"
            )

    def boot(self, timeout: float = 60.0) -> None:
        """Boot systemd as PID 1 on a private network and wait for the boot to finish."""
        started = time.monotonic()
        log = self.log_path.open("a")
        self.nspawn = subprocess.Popen(
            [
                "systemd-nspawn", "-b", "--register=no", "--keep-unit", "--private-network",
                "--console=passive", "-D", str(self.root),
            ],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.leader = int(str(wait_until(self._find_leader, "the container's PID 1", timeout)))
        self.pid_namespace = os.readlink(f"/proc/{self.leader}/ns/pid")
        wait_until(self._booted, "the container's boot to finish", timeout)
        self.timings["boot"] = time.monotonic() - started

    def _find_leader(self) -> int | None:
        if self.nspawn is None or self.nspawn.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited; see {self.log_path}")
        pending = [self.nspawn.pid]
        while pending:
            pid = pending.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            nspid = next(
                (line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), []
            )
            if len(nspid) > 1 and nspid[-1] == "1":
                return pid
            pending += [int(child) for child in children]
        return None

    def _booted(self) -> bool:
        state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
        return state in ("running", "degraded")

    def run(
        self,
        command: Sequence[str],
        check: bool = True,
        input_text: str | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside the booted container (all its namespaces), as root."""
        assert self.leader is not None, "the machine is not booted"
        completed = subprocess.run(
            [
                "nsenter", f"--target={self.leader}", "--mount", "--uts", "--ipc", "--net",
                "--pid", "--", "env", "-i", f"PATH={INNER_PATH}", "LANG=C.UTF-8", *command,
            ],
            input=input_text, capture_output=True, text=True, timeout=timeout,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )  # fmt: skip
        if check and completed.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {completed.returncode}:\n"
                f"{completed.stdout}\n{completed.stderr}"
            )
        return completed

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell script inside the booted container."""
        return self.run(["/bin/sh", "-ec", script], check=check)

    def stop(self, timeout: float = 30.0) -> None:
        """Halt (SIGRTMIN+3 to PID 1), then SIGKILL by pid whatever is left in its pid namespace."""
        if self.leader is not None and self.nspawn is not None and self.nspawn.poll() is None:
            try:
                os.kill(self.leader, signal.SIGRTMIN + 3)
                self.nspawn.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.pid_namespace is not None:
            for pid in self._pids_in_namespace():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.nspawn.kill()
            self.nspawn.wait(timeout=timeout)

    def _pids_in_namespace(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "ns" / "pid") == self.pid_namespace:
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def unmount(self) -> None:
        """Unmount the overlay and delete the upper layer."""
        if self.root.is_mount():
            subprocess.run(["umount", "--lazy", str(self.root)], check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
