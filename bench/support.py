"""Shared helpers of the benchmarks: a private redis-server, its dataset, CPU and RSS readings.

Every benchmark starts its own redis-server on a free loopback port (never another Redis) and
stops it at the end.
"""

from __future__ import annotations

import compileall
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from janitor.domain.cpu_budget import server_cpu_seconds  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

CLI = str(Path(sys.executable).with_name("redis-janitor"))
UNTHROTTLED = {"JANITOR_SCAN__MAX_SERVER_CPU": "1"}
BIG_KEYS_PER_KIND = 200


def compile_package(package: Path = ROOT / "janitor") -> None:
    """Write the bytecode of ``package`` as an installed package has it.

    ``pip install`` (and a distribution's package) compile at install time; an editable
    checkout under ``PYTHONDONTWRITEBYTECODE=1`` (set on the development machines) recompiles
    every module at every start instead, which added ~0.1 s to each janitor run here: a tenth
    of a full-speed scan of 1M keys, and no part of what a deployment pays.
    """
    compileall.compile_dir(package, quiet=1)


@contextmanager
def bench_server() -> Iterator[RedisServer]:
    """A throwaway redis-server with DEBUG enabled (for DEBUG POPULATE), on a loopback port
    and on the unix socket ``socket_path`` too."""
    # A benchmark stopped with SIGTERM still stops its server (the ``finally`` below runs).
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(143))
    compile_package()
    with tempfile.TemporaryDirectory(prefix="janitor-bench-") as workdir:
        config = {
            "enable-debug-command": "yes",
            "unixsocket": str(Path(workdir) / "redis.sock"),
            "unixsocketperm": "700",
        }
        server = RedisServer(Path(workdir), config).start()
        try:
            yield server
        finally:
            server.stop()


def populate(server: RedisServer, small_keys: int) -> int:
    """Grow the dataset to ``small_keys`` 64-byte strings plus big strings and hashes.

    ``DEBUG POPULATE`` skips existing names, so calling it again with a larger count extends
    the same dataset. Returns the number of keys.
    """
    client = server.client()
    client.execute_command("DEBUG", "POPULATE", small_keys, "small", 64)
    if not client.exists(f"big:hash:{BIG_KEYS_PER_KIND - 1}"):
        pipe = client.pipeline(transaction=False)
        for index in range(BIG_KEYS_PER_KIND):
            pipe.setrange(f"big:string:{index}", 199_999, b"x")  # 200 kB, not sent over
            pipe.hset(f"big:hash:{index}", mapping={f"field{n}": "v" * 32 for n in range(500)})
        pipe.execute()
    return int(client.dbsize())


def server_cpu(server: RedisServer) -> float:
    """CPU seconds the server's main thread used so far (INFO cpu)."""
    return server_cpu_seconds(server.client().info("cpu"))


def command_calls(server: RedisServer) -> dict[str, int]:
    """Calls per command so far (INFO commandstats), e.g. {"memory|usage": 1000150}."""
    stats = server.client().info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def cpu_ticks() -> tuple[int, int]:
    """(all, stolen) CPU ticks of the machine so far (/proc/stat): on a VM, the hypervisor's
    steal is CPU time this machine's processes wanted and did not get."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[7] if len(fields) > 7 else 0


def steal_fraction(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of CPU time stolen between two ``cpu_ticks()`` readings."""
    total = after[0] - before[0]
    return (after[1] - before[1]) / total if total > 0 else 0.0


@dataclass
class ChildRun:
    """What one benchmarked command did."""

    seconds: float
    peak_rss_bytes: int
    vm_hwm_bytes: int
    server_cpu_seconds: float
    stderr: str
    client_cpu_seconds: float = 0.0
    steal: float = 0.0
    """Share of the machine's CPU time the hypervisor stole while it ran."""


def run_child(
    server: RedisServer, command: list[str], env: dict[str, str] | None = None
) -> ChildRun:
    """Run ``command`` (stdout discarded); return its wall time, peak RSS and the server's CPU.

    Two peak-RSS readings: the child's ``ru_maxrss`` from ``wait4`` (Linux carries the forked
    pre-exec image's high-water mark over, so it never reads below this process's size, see
    ``own_peak_rss_bytes``), and the last ``VmHWM`` polled from /proc every 10 ms (the exec'd
    program's own, but blind to its last 10 ms).
    """
    cpu_before = server_cpu(server)
    ticks_before = cpu_ticks()
    started = time.perf_counter()
    vm_hwm = 0
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, **env} if env is not None else None,
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            vm_hwm = max(vm_hwm, _vm_hwm_bytes(process.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}: {errors[-2000:]}")
    return ChildRun(
        seconds=seconds,
        peak_rss_bytes=usage.ru_maxrss * 1024,
        vm_hwm_bytes=vm_hwm,
        server_cpu_seconds=server_cpu(server) - cpu_before,
        stderr=errors,
        client_cpu_seconds=usage.ru_utime + usage.ru_stime,
        steal=steal_fraction(ticks_before, cpu_ticks()),
    )


def _vm_hwm_bytes(pid: int) -> int:
    """The process's VmHWM (peak resident set) from /proc, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def own_peak_rss_bytes() -> int:
    """This process's peak RSS: the floor under every child's ``ru_maxrss``."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
