"""Benchmark: what each scanner does to other clients' latency, and how fast it scans.

Starts its own redis-server on a free loopback port, fills it (``DEBUG POPULATE`` small strings
plus big strings and hashes), then, ``--rounds`` times and alternating the modes within every
round, runs a bounded ``redis-benchmark -t get`` load against that server while a scanner runs
over and over in a child process: nothing, ``redis-janitor report`` and ``run --dry-run`` (a
size rule) at their defaults, Debian's ``redis-cli --memkeys``, and the janitor at full speed
(``max_server_cpu = 1``, ``max_batch_server_time = 0``). A scan still running when the load ends
is finished (so every mode has a complete scan timed under the same load) but only the load's
window counts for latency. Prints per mode the load's p50/p99 (median over the rounds) and its
ratio to no scan, the load's req/s, and the scan's wall time and keys/s, with ratios to
redis-cli's in the same round.

    .venv/bin/python bench/latency.py --keys 1000000 --requests 150000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from support import CLI, bench_server, populate
from throttle import latency, load_command

FULL_SPEED = {"JANITOR_SCAN__MAX_SERVER_CPU": "1", "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": "0"}
RUN_RULE = [
    "--match",
    "*",
    "--min-size",
    "100KiB",
    "--action",
    "delete",
    "--goal",
    "all",
    "--dry-run",
]


@dataclass
class Mode:
    """One scanner: its command line (None: no scan) and environment overrides."""

    name: str
    command: list[str] | None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    """One mode in one round."""

    p50_ms: float
    p99_ms: float
    rps: float
    scan_seconds: float | None


def variant(spec: str, report: list[str], env: dict[str, str]) -> Mode:
    """``budget:bound`` (e.g. ``0.3:100us``): a report with those two settings."""
    budget, bound = spec.split(":")
    overrides = {
        "JANITOR_SCAN__MAX_SERVER_CPU": budget,
        "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": bound,
    }
    return Mode(f"janitor report {budget} / {bound}", report, {**env, **overrides})


def modes(url: str, port: int, state: str, variants: list[str]) -> list[Mode]:
    """The scanners compared, in the order each round runs them."""
    config = os.path.join(state, "janitor.toml")
    with open(config, "w") as empty:
        empty.write("# defaults only\n")
    janitor_env = {"JANITOR_CONFIG": config}
    report = [CLI, "report", "--url", url, "--format", "json"]
    run = [CLI, "run", "--url", url, "--format", "json", *RUN_RULE]
    return [
        Mode("no scan", None),
        Mode("janitor report (default)", report, janitor_env),
        Mode("janitor run --dry-run (default)", run, janitor_env),
        Mode("redis-cli --memkeys (Debian)", ["redis-cli", "-p", str(port), "--memkeys"]),
        Mode("janitor report full speed", report, {**janitor_env, **FULL_SPEED}),
        *(variant(spec, report, janitor_env) for spec in variants),
    ]


def scan_loop(mode: Mode, load_done: threading.Event, durations: list[float]) -> None:
    """Run the scanner again and again until the load is done (finishing the last scan)."""
    assert mode.command is not None
    env = {**os.environ, **mode.env}
    while not load_done.is_set() or not durations:
        started = time.perf_counter()
        done = subprocess.run(mode.command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            durations.append(float("nan"))
            print(f"{mode.name} exited {done.returncode}: {done.stderr[-1000:]}", flush=True)
            return
        durations.append(time.perf_counter() - started)


def measure(mode: Mode, load: list[str]) -> Sample:
    """Run the load once with ``mode`` scanning alongside."""
    load_done = threading.Event()
    durations: list[float] = []
    scanner = None
    if mode.command is not None:
        scanner = threading.Thread(target=scan_loop, args=(mode, load_done, durations))
        scanner.start()
        time.sleep(1.0)  # past the scanner's start-up: the load sees the scan itself
    output = subprocess.run(load, capture_output=True, text=True, check=True).stdout
    load_done.set()
    if scanner is not None:
        scanner.join()
    p50, p99, rps = latency(output)
    return Sample(p50, p99, rps, min(durations) if durations else None)


def main() -> None:
    """Parse arguments, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="small keys to generate")
    parser.add_argument("--requests", type=int, default=150_000, help="GETs per load run")
    parser.add_argument("--clients", type=int, default=4, help="redis-benchmark connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (modes alternate)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="extra report mode max_server_cpu:max_batch_server_time, e.g. 0.3:250us",
    )
    args = parser.parse_args()
    with bench_server() as server, tempfile.TemporaryDirectory() as state:
        keys = populate(server, args.keys)
        load = load_command(server, args.requests, args.clients)
        scanners = modes(server.url, server.port, state, args.variant)
        samples: dict[str, list[Sample]] = {mode.name: [] for mode in scanners}
        for round_number in range(1, args.rounds + 1):
            for mode in scanners:
                sample = measure(mode, load)
                samples[mode.name].append(sample)
                scan = f"{sample.scan_seconds:.2f}s" if sample.scan_seconds else "-"
                print(
                    f"round {round_number} {mode.name:34s} p50 {sample.p50_ms:.3f}"
                    f" p99 {sample.p99_ms:.3f} ms  {sample.rps:8,.0f} req/s  scan {scan}",
                    flush=True,
                )
    print_table(keys, load, samples, args.rounds)


def print_table(keys: int, load: list[str], samples: dict[str, list[Sample]], rounds: int) -> None:
    """Medians over the rounds; ratios against no scan (latency) and redis-cli (speed)."""
    base = samples["no scan"]
    cli = samples["redis-cli --memkeys (Debian)"]
    print(f"\nkeys: {keys:,}; load: {' '.join(load[:1] + load[5:])} (loopback, own server)")
    print(f"medians of {rounds} alternated rounds; ratios per round, then their median")
    print(
        "| scanner | load p50 / p99 (ms) | p99 vs no scan | load req/s |"
        " scan wall | keys/s | speed vs redis-cli |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, runs in samples.items():
        p99_ratio = statistics.median(r.p99_ms / b.p99_ms for r, b in zip(runs, base, strict=True))
        wall = [r.scan_seconds for r in runs if r.scan_seconds]
        if wall:
            speed = statistics.median(
                (c.scan_seconds or 0) / (r.scan_seconds or 1)
                for r, c in zip(runs, cli, strict=True)
            )
            scan = f"{statistics.median(wall):.2f} s | {keys / statistics.median(wall):,.0f}"
            versus = f"{speed:.2f}x"
        else:
            scan, versus = "- | -", "-"
        print(
            f"| {name} | {statistics.median(r.p50_ms for r in runs):.3f} /"
            f" {statistics.median(r.p99_ms for r in runs):.3f} | {p99_ratio:.2f}x |"
            f" {statistics.median(r.rps for r in runs):,.0f} | {scan} | {versus} |"
        )


if __name__ == "__main__":
    main()
