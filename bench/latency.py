"""Benchmark: what each scanner does to other clients' latency, and how fast it scans under load.

Starts its own redis-server on a free loopback port, fills it (``DEBUG POPULATE`` small strings
plus big strings and hashes), then, ``--rounds`` times and alternating the modes within every
round, runs one scan per mode from start to end while a bounded ``redis-benchmark -t get`` load
is started again and again until the scan ends: nothing (the load alone, ``--quiet-windows``
times), ``redis-janitor report`` and ``run --dry-run`` (a size rule) at their defaults, Debian's
``redis-cli --memkeys``, the janitor at full speed (``max_server_cpu = 1``,
``max_batch_server_time = 0``, ``nice = 0``) and any ``--variant``. Prints per mode the load's
p50/p99 (median over the load runs of a round, then over the rounds) and its ratio to no scan,
the load's req/s, and the scan's wall time under load and keys/s, with ratios to redis-cli's in
the same round.

On a machine shared with other work, run it at a raised priority so the others don't decide
the figures (every process it starts inherits the priority; the janitor's own ``scan.nice`` is
relative to it):

    nice -n -10 .venv/bin/python bench/latency.py --keys 1000000 --requests 100000 --rounds 3
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

from support import CLI, bench_server, cpu_ticks, populate, steal_fraction
from throttle import latency, load_command

FULL_SPEED = {
    "JANITOR_SCAN__MAX_SERVER_CPU": "1",
    "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": "0",
    "JANITOR_SCAN__NICE": "0",
}
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
    """``budget:bound[:nice[:batch]]`` (e.g. ``0.3:100us``, ``0.2:50us:10`` or
    ``0.4:25us:10:batch``): a report with those settings (``scan.nice`` at its default unless a
    third field is given; ``batch`` runs it under ``chrt --batch 0``, SCHED_BATCH)."""
    budget, bound, *rest = spec.split(":")
    overrides = {
        "JANITOR_SCAN__MAX_SERVER_CPU": budget,
        "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": bound,
    }
    name = f"janitor report {budget} / {bound}"
    if rest and rest[0]:
        overrides["JANITOR_SCAN__NICE"] = rest[0]
        name += f" / nice {rest[0]}"
    command = report
    if rest[1:] == ["batch"]:
        command = ["chrt", "--batch", "0", *report]
        name += " / SCHED_BATCH"
    return Mode(name, command, {**env, **overrides})


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


def measure(mode: Mode, load: list[str], quiet_windows: int) -> Sample:
    """Run one scan of ``mode`` under the load, from start to end; without a scanner, the load
    alone ``quiet_windows`` times.

    The load is a bounded ``redis-benchmark`` run started again and again until the scan ends
    (the first one after a second, past the scanner's start-up), so the whole scan is timed
    under load and the latency covers the whole scan. A window that ends after the scan still
    counts (mostly scan time). Latency is the median over the windows of their p50 and p99.
    """
    windows: list[tuple[float, float, float]] = []
    if mode.command is None:
        for _ in range(quiet_windows):
            windows.append(latency(_run_load(load)))
        return _sample(windows, None)
    started = time.perf_counter()
    scanner = subprocess.Popen(
        mode.command,
        env={**os.environ, **mode.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    finished: list[float] = []
    waiter = threading.Thread(target=lambda: finished.append(_wait(scanner, started)))
    waiter.start()
    time.sleep(1.0)  # past the scanner's start-up: the load sees the scan itself
    while not finished or not windows:
        windows.append(latency(_run_load(load)))
    waiter.join()
    if scanner.returncode != 0:
        errors = scanner.stderr.read().decode(errors="replace") if scanner.stderr else ""
        raise RuntimeError(f"{mode.name} exited {scanner.returncode}: {errors[-1000:]}")
    return _sample(windows, finished[0])


def _run_load(load: list[str]) -> str:
    return subprocess.run(load, capture_output=True, text=True, check=True).stdout


def _wait(process: subprocess.Popen[bytes], started: float) -> float:
    if process.stderr is not None:
        process.stderr.read()  # never let a full pipe stall the scanner
    process.wait()
    return time.perf_counter() - started


def _sample(windows: list[tuple[float, float, float]], scan_seconds: float | None) -> Sample:
    return Sample(
        statistics.median(w[0] for w in windows),
        statistics.median(w[1] for w in windows),
        statistics.median(w[2] for w in windows),
        scan_seconds,
    )


def main() -> None:
    """Parse arguments, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="small keys to generate")
    parser.add_argument("--requests", type=int, default=100_000, help="GETs per load run")
    parser.add_argument("--clients", type=int, default=4, help="redis-benchmark connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (modes alternate)")
    parser.add_argument(
        "--quiet-windows", type=int, default=5, help="load runs per round with no scan"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="extra report mode max_server_cpu:max_batch_server_time[:nice[:batch]], e.g."
        " 0.3:50us:0 or 0.4:25us::batch (SCHED_BATCH)",
    )
    parser.add_argument(
        "--only",
        action="append",
        help="run only the modes whose name contains this (repeat); no scan and redis-cli stay",
    )
    args = parser.parse_args()
    with bench_server() as server, tempfile.TemporaryDirectory() as state:
        keys = populate(server, args.keys)
        load = load_command(server, args.requests, args.clients)
        scanners = modes(server.url, server.port, state, args.variant)
        if args.only:
            wanted = (*args.only, "no scan", "redis-cli")
            scanners = [mode for mode in scanners if any(w in mode.name for w in wanted)]
        samples: dict[str, list[Sample]] = {mode.name: [] for mode in scanners}
        for round_number in range(1, args.rounds + 1):
            for mode in scanners:
                ticks = cpu_ticks()
                sample = measure(mode, load, args.quiet_windows)
                samples[mode.name].append(sample)
                scan = f"{sample.scan_seconds:.2f}s" if sample.scan_seconds else "-"
                print(
                    f"round {round_number} {mode.name:34s} p50 {sample.p50_ms:.3f}"
                    f" p99 {sample.p99_ms:.3f} ms  {sample.rps:8,.0f} req/s  scan {scan}"
                    f"  (CPU stolen by the hypervisor: {steal_fraction(ticks, cpu_ticks()):.0%})",
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
