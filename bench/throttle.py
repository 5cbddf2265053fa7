"""Benchmark: what the scan does to other clients' latency, and whether ``max_server_cpu`` holds.

Starts its own redis-server on a free loopback port, fills it, then for each mode — janitor
off, ``max_server_cpu`` 0.05, 0.20, unthrottled — runs one bounded ``redis-benchmark`` GET load
against that server while a janitor scans over and over (a child process at ``--nice``, through
the same scanner and aggregates as ``redis-janitor report``) until the load is done. Prints the
load's p50/p99 latency per mode and the server CPU share the scan used against its budget:

- measured: the execution time of the scan's own commands (INFO commandstats ``usec`` of SCAN,
  MEMORY USAGE, OBJECT, PTTL, TYPE, INFO) times the ratio of main-thread CPU (INFO cpu) to that
  execution time, calibrated by one scan alone before the load starts (the rest is reading
  queries and writing replies), over the wall time;
- controller: the scan's own running estimate (janitor.domain.cpu_budget), for comparison;
- server busy: the main thread's total CPU share (load plus scan) from INFO cpu.

    .venv/bin/python bench/throttle.py --keys 1000000 --requests 200000 [--nice 10]
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import subprocess
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from support import bench_server, populate, server_cpu

from janitor.adapters.redis.scanner import KeyspaceScanner, ScanOptions
from janitor.domain.aggregates import KeyspaceAggregates
from janitor.domain.cpu_budget import SCAN_COMMANDS
from janitor.domain.server import IdleMetric
from tests.support.redis_server import RedisServer

MODES: tuple[tuple[str, float | None, bool], ...] = (
    ("janitor off", None, False),
    ("max_server_cpu 0.05", 0.05, True),
    ("max_server_cpu 0.20", 0.20, True),
    ("unthrottled", None, True),
)


@dataclass
class ModeResult:
    """One mode's figures."""

    name: str
    budget: float | None
    seconds: float
    server_cpu_seconds: float
    scan_usec: float
    scanned_keys: int
    controller_cpu_seconds: float
    p50_ms: float
    p99_ms: float
    rps: float


def load_command(server: RedisServer, requests: int, clients: int) -> list[str]:
    """A bounded GET load on the bench's own server (loopback only)."""
    return [
        "redis-benchmark",
        "-h",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-t",
        "get",
        "-n",
        str(requests),
        "-c",
        str(clients),
        "-r",
        "1000000",
        "--csv",
    ]


def latency(output: str) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) from redis-benchmark's CSV output."""
    rows = list(csv.DictReader(io.StringIO(output)))
    row = rows[-1]
    return float(row["p50_latency_ms"]), float(row["p99_latency_ms"]), float(row["rps"])


def scan_command_usec(server: RedisServer) -> float:
    """Microseconds the server spent executing the scan's commands so far."""
    stats = server.client().info("commandstats")
    return sum(
        float(value["usec"])
        for name, value in stats.items()
        if name.removeprefix("cmdstat_") in SCAN_COMMANDS
    )


def calibrate(server: RedisServer) -> tuple[float, float]:
    """One unthrottled scan alone: (main-thread CPU per second of scan commands, CPU per key)."""
    cpu_before, usec_before = server_cpu(server), scan_command_usec(server)
    keys = 0
    aggregates = KeyspaceAggregates()
    for batch in KeyspaceScanner(server.client, IdleMetric.IDLETIME, ScanOptions()).scan([0]):
        aggregates.add_all(batch)
        keys += len(batch)
    cpu = server_cpu(server) - cpu_before
    return cpu / ((scan_command_usec(server) - usec_before) / 1e6), cpu / keys


def scan_until_stopped(
    server: RedisServer,
    budget: float | None,
    count: int,
    niceness: int,
    measuring: Event,
    stop: Event,
    results: Queue[tuple[int, float]],
) -> None:
    """Child process: scan over and over; count keys and controller CPU while ``measuring``."""
    os.nice(niceness)
    scanned, controller_cpu = 0, 0.0
    while not stop.is_set():
        options = ScanOptions(count=count, max_server_cpu=budget)
        scanner = KeyspaceScanner(server.client, IdleMetric.IDLETIME, options)
        aggregates = KeyspaceAggregates()
        seen_cpu = 0.0
        for batch in scanner.scan([0]):
            aggregates.add_all(batch)
            spent = scanner.cpu_budget.scan_cpu_seconds if scanner.cpu_budget else 0.0
            if measuring.is_set():
                scanned += len(batch)
                controller_cpu += spent - seen_cpu
            seen_cpu = spent
            if stop.is_set():
                break
    results.put((scanned, controller_cpu))


def run_mode(
    server: RedisServer,
    name: str,
    budget: float | None,
    scanning: bool,
    load: list[str],
    count: int,
    niceness: int,
) -> ModeResult:
    """Run the load once, with a janitor scanning alongside it (in a child) when ``scanning``."""
    context = multiprocessing.get_context("fork")
    measuring, stop = context.Event(), context.Event()
    results: Queue[tuple[int, float]] = context.Queue()
    child = context.Process(
        target=scan_until_stopped,
        args=(server, budget, count, niceness, measuring, stop, results),
    )
    if scanning:
        child.start()
        time.sleep(0.5)  # let the scan (and its controller) settle before the window opens
    measuring.set()
    cpu_before = server_cpu(server)
    usec_before = scan_command_usec(server)
    started = time.perf_counter()
    output = subprocess.run(load, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - started
    cpu, usec = server_cpu(server) - cpu_before, scan_command_usec(server) - usec_before
    measuring.clear()
    scanned, controller_cpu = 0, 0.0
    if scanning:
        stop.set()
        scanned, controller_cpu = results.get(timeout=120)
        child.join()
    p50, p99, rps = latency(output)
    return ModeResult(name, budget, seconds, cpu, usec, scanned, controller_cpu, p50, p99, rps)


def main() -> None:
    """Parse arguments, run every mode, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="small keys to generate")
    parser.add_argument("--requests", type=int, default=200_000, help="GETs per load run")
    parser.add_argument("--clients", type=int, default=4, help="redis-benchmark connections")
    parser.add_argument("--count", type=int, default=1000, help="[scan] count (SCAN COUNT)")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the scanning process")
    args = parser.parse_args()
    results: list[ModeResult] = []
    with bench_server() as server:
        keys = populate(server, args.keys)
        cpu_per_exec, cpu_per_key = calibrate(server)
        load = load_command(server, args.requests, args.clients)
        for name, budget, scanning in MODES:
            results.append(run_mode(server, name, budget, scanning, load, args.count, args.nice))
            print(f"{name}: done in {results[-1].seconds:.1f}s", flush=True)
    print(f"\nkeys: {keys:,}; load: {' '.join(load[:1] + load[5:])} (loopback, own server)")
    print(f"janitor scanning in a child process at nice {args.nice}, SCAN COUNT {args.count}")
    print(
        f"calibration (scan alone): {cpu_per_key * 1e6:.2f} µs of server CPU per key, "
        f"{cpu_per_exec:.2f} s of main-thread CPU per s of command execution"
    )
    print(
        f"{'mode':20s} {'load p50':>9s} {'load p99':>9s} {'load rps':>9s} {'scan keys/s':>12s}"
        f" {'server busy':>12s} {'scan share':>11s} {'controller':>11s} {'vs budget':>10s}"
    )
    for result in results:
        share = result.scan_usec * cpu_per_exec / 1e6 / result.seconds if result.scanned_keys else 0
        estimate = f"{result.controller_cpu_seconds / result.seconds:.1%}" if result.budget else "-"
        against = f"{share / result.budget:.0%}" if result.budget else "-"
        print(
            f"{result.name:20s} {result.p50_ms:7.3f}ms {result.p99_ms:7.3f}ms"
            f" {result.rps:9,.0f} {result.scanned_keys / result.seconds:12,.0f}"
            f" {result.server_cpu_seconds / result.seconds:12.1%} {share:11.1%}"
            f" {estimate:>11s} {against:>10s}"
        )


if __name__ == "__main__":
    main()
