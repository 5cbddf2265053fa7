"""Benchmark: keys/s of ``redis-janitor report`` against ``redis-cli --memkeys`` on the same data.

Starts its own redis-server on a free port (never touches another Redis), fills it with
``DEBUG POPULATE`` small strings plus big strings and hashes, then runs both tools alternately,
``--rounds`` times each (the janitor unthrottled: ``JANITOR_SCAN__MAX_SERVER_CPU=1``, as
redis-cli has no throttle), and prints:

- keys/s of each tool end to end (the janitor's includes its start-up and the JSON report) and
  the ratio;
- the commands the janitor sent per key (INFO commandstats deltas);
- the server's CPU per key during the janitor's runs (INFO cpu deltas), the server-bound rate
  that follows from it, and the janitor's own scan rate as a share of it (client not the
  bottleneck when close to 100 %);
- the janitor's peak RSS;
- one more janitor run with the default settings (``max_server_cpu`` 0.2).

    .venv/bin/python bench/scan.py --keys 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics

from support import (
    CLI,
    UNTHROTTLED,
    ChildRun,
    bench_server,
    command_calls,
    populate,
    run_child,
)

JANITOR = "redis-janitor report"
MEMKEYS = "redis-cli --memkeys"


def scan_seconds(run: ChildRun) -> float:
    """The scan phase's duration, from the janitor's ``scan.finished`` log line."""
    for line in run.stderr.splitlines():
        if '"scan.finished"' in line:
            return float(json.loads(line)["duration_seconds"])
    raise RuntimeError("no scan.finished log line")


def main() -> None:
    """Parse arguments, run the alternating measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="small keys to generate")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool")
    args = parser.parse_args()
    runs: dict[str, list[ChildRun]] = {JANITOR: [], MEMKEYS: []}
    with bench_server() as server:
        keys = populate(server, args.keys)
        janitor = [CLI, "report", "--url", server.url, "--format", "json"]
        memkeys = ["redis-cli", "-p", str(server.port), "--memkeys"]
        calls_before = command_calls(server)
        for round_number in range(1, args.rounds + 1):
            runs[JANITOR].append(run_child(server, janitor, UNTHROTTLED))
            if round_number == 1:
                calls_after = command_calls(server)
            runs[MEMKEYS].append(run_child(server, memkeys))
            print(
                f"round {round_number}: janitor {runs[JANITOR][-1].seconds:6.2f}s   "
                f"redis-cli {runs[MEMKEYS][-1].seconds:6.2f}s",
                flush=True,
            )
        default = run_child(server, janitor)
    print(f"\nkeys: {keys:,} ({args.keys:,} small strings + big strings and hashes)")
    rates = {}
    for name, tool_runs in runs.items():
        seconds = [run.seconds for run in tool_runs]
        rates[name] = keys / statistics.median(seconds)
        print(
            f"{name:22s} best {min(seconds):6.2f}s  median {statistics.median(seconds):6.2f}s"
            f"  {rates[name]:>9,.0f} keys/s (median, end to end)"
        )
    ratios = [m.seconds / j.seconds for j, m in zip(runs[JANITOR], runs[MEMKEYS], strict=True)]
    print(
        f"speed-up janitor vs redis-cli: {rates[JANITOR] / rates[MEMKEYS]:.2f}x "
        f"(per round: {', '.join(f'{ratio:.2f}x' for ratio in ratios)})"
    )
    scan_rate = keys / statistics.median(scan_seconds(run) for run in runs[JANITOR])
    print(
        f"janitor scan phase alone (no start-up, no report): {scan_rate:,.0f} keys/s (median),"
        f" {scan_rate / rates[MEMKEYS]:.2f}x redis-cli"
    )
    sent = {
        name: (calls_after.get(name, 0) - calls_before.get(name, 0)) / keys
        for name in ("memory|usage", "object|idletime", "pttl", "type", "scan")
    }
    print("janitor commands per key: " + ", ".join(f"{n} {v:.3f}" for n, v in sent.items()))
    print("\njanitor scan phase   server CPU/key  server-bound   janitor rate  share")
    for run in runs[JANITOR]:
        bound = keys / run.server_cpu_seconds
        actual = keys / scan_seconds(run)
        print(
            f"{'':20s} {run.server_cpu_seconds / keys * 1e6:10.2f} µs {bound:>10,.0f}/s"
            f" {actual:>12,.0f}/s {actual / bound:6.0%}"
        )
    print(
        f"\njanitor with the default max_server_cpu 0.2: {default.seconds:.2f}s,"
        f" {keys / default.seconds:,.0f} keys/s, server CPU share during the scan"
        f" {default.server_cpu_seconds / scan_seconds(default):.0%}"
    )
    peak = max(run.peak_rss_bytes for run in runs[JANITOR])
    hwm = max(run.vm_hwm_bytes for run in runs[JANITOR])
    print(f"\njanitor peak RSS: {peak / 2**20:.0f} MiB (ru_maxrss), {hwm / 2**20:.0f} MiB (VmHWM)")


if __name__ == "__main__":
    main()
