"""Several local instances scanned one at a time or side by side (``scan.parallel_instances``).

Starts three throwaway redis-servers (loopback, free ports), fills each with ``--keys`` small
strings plus big strings and hashes (``DEBUG POPULATE``), then runs, alternated per round, the
installed ``redis-janitor`` over all three URLs: ``run --dry-run`` with one size rule (sizes
first) and ``report``, each at the default budgets and at full speed, with
``parallel_instances`` 1 and 3 (and 3 with ``max_client_cpu`` 2, to see whether the janitor's
CPU budget is what binds). Prints per mode the median wall time, the janitor's CPU (the
child's rusage: the shared resource of side-by-side scans) and the three servers' main-thread
CPU, and the per-round ratio of the sequential wall time to the side-by-side one.

Usage: ``flock /work/tools/bench.lock .venv/bin/python bench/parallel.py --keys 300000``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from support import CLI, bench_server, populate, run_child, server_cpu

FULL = {"JANITOR_SCAN__MAX_SERVER_CPU": "1", "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": "0"}
RUN = ["run", "--dry-run", "--format", "json", "--goal", "all"]
RULE = ["--match", "*", "--min-size", "100KiB", "--action", "delete"]


@dataclass
class Sample:
    """One command's run: wall seconds, janitor CPU, the servers' CPU."""

    seconds: float
    client_cpu: float
    server_cpu: float


def modes(urls: list[str], state: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The commands compared, each with parallel_instances 1 and 3."""
    config = Path(state) / "janitor.toml"
    config.write_text("# defaults only\n")
    env = {"JANITOR_CONFIG": str(config), "JANITOR_SERVICE__STATE_DIR": state}
    url_flags = [flag for url in urls for flag in ("--url", url)]
    commands = {
        "run --dry-run, defaults": ([CLI, *RUN, *url_flags, *RULE], env),
        "run --dry-run, full speed": ([CLI, *RUN, *url_flags, *RULE], {**env, **FULL}),
        "report, defaults": ([CLI, "report", *url_flags, "--format", "json"], env),
        "report, full speed": ([CLI, "report", *url_flags, "--format", "json"], {**env, **FULL}),
    }
    table = {}
    for name, (command, variables) in commands.items():
        for workers in (1, 3):
            extra = {"JANITOR_SCAN__PARALLEL_INSTANCES": str(workers)}
            table[f"{name}, parallel_instances {workers}"] = (command, {**variables, **extra})
        two_cores = {"JANITOR_SCAN__PARALLEL_INSTANCES": "3", "JANITOR_SCAN__MAX_CLIENT_CPU": "2"}
        table[f"{name}, parallel_instances 3, max_client_cpu 2"] = (
            command,
            {**variables, **two_cores},
        )
    return table


def main() -> None:
    """Parse arguments, run the alternating measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=300_000, help="small keys per instance")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (modes alternate)")
    parser.add_argument("--only", action="append", help="only modes whose name contains this")
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as state:
        servers = [stack.enter_context(bench_server()) for _ in range(3)]
        keys = sum(populate(server, args.keys) for server in servers)
        table = modes([server.url for server in servers], state)
        wanted = args.only or [""]
        table = {name: mode for name, mode in table.items() if any(w in name for w in wanted)}
        runs: dict[str, list[Sample]] = {name: [] for name in table}
        for round_number in range(1, args.rounds + 1):
            for name, (command, env) in table.items():
                before = sum(server_cpu(server) for server in servers)
                child = run_child(servers[0], command, env)
                after = sum(server_cpu(server) for server in servers)
                runs[name].append(Sample(child.seconds, child.client_cpu_seconds, after - before))
                print(f"round {round_number} {name:50s} {child.seconds:7.2f}s", flush=True)
    print_figures(keys, runs, args.rounds)


def print_figures(keys: int, runs: dict[str, list[Sample]], rounds: int) -> None:
    """Medians over the rounds; the speed-up is per round against the sequential run."""
    print(f"\n3 instances, {keys:,} keys in all; medians of {rounds} alternated rounds")
    print("| mode | wall | keys/s | speed-up vs 1 | janitor CPU | servers' CPU |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, samples in runs.items():
        one = name.replace(", max_client_cpu 2", "").replace("instances 3", "instances 1")
        sequential = runs.get(one)
        wall = statistics.median(s.seconds for s in samples)
        ratio = "-"
        if sequential is not None and sequential is not samples:
            pairs = zip(sequential, samples, strict=True)
            ratio = f"{statistics.median(a.seconds / b.seconds for a, b in pairs):.2f}x"
        client = statistics.median(s.client_cpu for s in samples)
        server = statistics.median(s.server_cpu for s in samples)
        print(
            f"| {name} | {wall:.2f} s | {keys / wall:,.0f} | {ratio} | {client:.2f} s"
            f" ({client / keys * 1e6:.2f} µs/key) | {server:.2f} s |"
        )


if __name__ == "__main__":
    main()
