"""Benchmark: client and server CPU per key of each scan mode, in process (no start-up).

Starts its own redis-server, fills it, then alternates ``--rounds`` times: the report's scan
(full metadata into the aggregates) at full speed and at the default bounds, and the run's
two-phase scan (size first, the rest for keys of at least ``--min-size``) at the default
bounds, each consumed the way the command consumes it. Prints per mode the wall time, keys/s,
the client's CPU per key (this process, user + system) and the server's main-thread CPU per key.

    .venv/bin/python bench/client_cpu.py --keys 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

from support import bench_server, populate, server_cpu

from janitor.adapters.redis.scanner import (
    KeyspaceScanner,
    ProbePlan,
    ScanOptions,
    cyclic_gc_paused,
)
from janitor.config.policy_settings import PolicySettings
from janitor.domain.aggregates import KeyspaceAggregates
from janitor.domain.planner import CandidateCollector
from janitor.domain.server import IdleMetric
from tests.support.redis_server import RedisServer

DEFAULT = ScanOptions(max_server_cpu=0.2, max_batch_server_time=100e-6)
FULL_SPEED = ScanOptions()


def client_cpu() -> float:
    """This process's CPU seconds so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report_scan(server: RedisServer, options: ScanOptions, with_ttl: bool) -> int:
    """The report's scan: every record into the aggregates."""
    aggregates = KeyspaceAggregates()
    plans = {0: ProbePlan(with_ttl=with_ttl)}
    scanner = KeyspaceScanner(server.client, IdleMetric.IDLETIME, options, plans=plans)
    with cyclic_gc_paused():
        for batch in scanner.scan([0]):
            aggregates.add_all(batch)
    return scanner.keys_scanned


def run_scan(server: RedisServer, options: ScanOptions, min_size: int) -> int:
    """The run's scan: size first, candidates judged by a size rule."""
    policy = PolicySettings.model_validate(
        {"goal": "all", "rules": [{"name": "big", "min_size": min_size, "action": "delete"}]}
    )
    collector = CandidateCollector(policy)
    plans = {0: ProbePlan(min_size=min_size, with_ttl=False)}
    scanner = KeyspaceScanner(server.client, IdleMetric.IDLETIME, options, plans=plans)
    with cyclic_gc_paused():
        for batch in scanner.scan([0]):
            for record in batch:
                collector.offer(record)
    return scanner.keys_scanned


def main() -> None:
    """Parse arguments, alternate the modes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="small keys to generate")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (modes alternate)")
    parser.add_argument("--min-size", type=int, default=100 * 1024, help="run's size rule")
    args = parser.parse_args()
    modes: dict[str, Callable[[RedisServer], int]] = {
        "report, full speed": lambda s: report_scan(s, FULL_SPEED, True),
        "report, full speed, no PTTL": lambda s: report_scan(s, FULL_SPEED, False),
        "report, default bounds": lambda s: report_scan(s, DEFAULT, True),
        "run (size first), full speed": lambda s: run_scan(s, FULL_SPEED, args.min_size),
        "run (size first), default bounds": lambda s: run_scan(s, DEFAULT, args.min_size),
    }
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in modes}
    with bench_server() as server:
        keys = populate(server, args.keys)
        for _ in range(args.rounds):
            for name, scan in modes.items():
                cpu, server_before, started = client_cpu(), server_cpu(server), time.perf_counter()
                scanned = scan(server)
                wall = time.perf_counter() - started
                figures[name].append(
                    (
                        wall,
                        (client_cpu() - cpu) / scanned,
                        (server_cpu(server) - server_before) / scanned,
                    )
                )
                print(f"{name:34s} {wall:6.2f}s", flush=True)
    print(f"\nkeys: {keys:,}; medians of {args.rounds} alternated rounds")
    print("| scan | wall | keys/s | client CPU/key | server CPU/key |")
    print("| --- | --- | --- | --- | --- |")
    for name, rows in figures.items():
        wall = statistics.median(row[0] for row in rows)
        client = statistics.median(row[1] for row in rows) * 1e6
        server_cost = statistics.median(row[2] for row in rows) * 1e6
        rate = keys / wall
        print(f"| {name} | {wall:.2f} s | {rate:,.0f} | {client:.2f} µs | {server_cost:.2f} µs |")


if __name__ == "__main__":
    main()
