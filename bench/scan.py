"""Benchmark: scan speed of ``redis-janitor`` against ``redis-cli --memkeys`` on the same data.

Starts its own redis-server on a free port (never touches another Redis), fills it with
``DEBUG POPULATE`` small strings plus big strings and hashes, then runs every mode once per
round, alternating, ``--rounds`` times:

- ``redis-cli --memkeys`` as Debian ships it (7.0: SCAN COUNT 10, TYPE + MEMORY USAGE; it has
  no ``--count``) over TCP and over a unix socket;
- with ``--tuned-cli PATH`` (a redis-cli ≥ 7.4, e.g. the one ``tests/support/servers.sh``
  builds), ``--memkeys --count 1000`` over TCP and a unix socket: the fastest redis-cli
  configuration found;
- ``redis-janitor report`` at full speed (``max_server_cpu = 1``, no batch bound, not niced)
  and at the defaults; ``report --sample 0.05`` at the defaults;
- ``redis-janitor run --dry-run`` with one size rule (``--min-size 100KiB``) at the defaults
  and at full speed (size first, the rest only for big keys);
- the janitor's full-speed report and both runs over the unix socket too;
- with ``--baseline DIR`` (a checkout of an older janitor), its full-speed report and run too.

Prints per mode the median wall time (end to end, start-up included), keys/s, the ratio to
the fastest redis-cli configuration and to Debian's default one (per round, then the median),
the client's CPU per key (the child's rusage) and the server's main-thread CPU per key, the
janitor's peak RSS, and how many scheduled runs (``scan.max_duration`` each) cover 10M and
100M keys at the measured default-run rate.

    .venv/bin/python bench/scan.py --keys 1000000 --rounds 3 \
        --tuned-cli "$(dirname "$(tests/support/servers.sh redis-7.4.1)")/redis-cli"
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from support import CLI, UNTHROTTLED, ChildRun, bench_server, compile_package, populate, run_child

FULL = {**UNTHROTTLED, "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": "0", "JANITOR_SCAN__NICE": "0"}
RUN = ["run", "--dry-run", "--format", "json", "--goal", "all"]
RULE = ["--match", "*", "--min-size", "100KiB", "--action", "delete"]
CLI_DEBIAN = "redis-cli --memkeys (Debian, TCP)"
MAX_DURATION = 600.0


def modes(
    url: str, port: int, socket: str, state: str, baseline: str | None, tuned_cli: str | None
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every command compared, with its environment overrides."""
    config = Path(state) / "janitor.toml"
    config.write_text("# defaults only\n")
    env = {"JANITOR_CONFIG": str(config), "JANITOR_SERVICE__STATE_DIR": state}
    report = [CLI, "report", "--url", url, "--format", "json"]
    run = [CLI, *RUN, "--url", url, *RULE]
    unix = f"unix://{socket}"
    table = {
        CLI_DEBIAN: (["redis-cli", "-p", str(port), "--memkeys"], {}),
        "redis-cli --memkeys (unix socket)": (["redis-cli", "-s", socket, "--memkeys"], {}),
        "janitor report, full speed": (report, {**env, **FULL}),
        "janitor report, defaults": (report, env),
        "janitor report --sample 0.05, defaults": ([*report, "--sample", "0.05"], env),
        "janitor run --dry-run, defaults": (run, env),
        "janitor run --dry-run, full speed": (run, {**env, **FULL}),
        "janitor report, full speed (unix socket)": (
            [CLI, "report", "--url", unix, "--format", "json"],
            {**env, **FULL},
        ),
        "janitor run --dry-run, full speed (unix socket)": (
            [CLI, *RUN, "--url", unix, *RULE],
            {**env, **FULL},
        ),
        "janitor run --dry-run, defaults (unix socket)": ([CLI, *RUN, "--url", unix, *RULE], env),
    }
    if tuned_cli is not None:
        tuned = [tuned_cli, "--memkeys", "--count", "1000"]
        table["redis-cli 7.4 --memkeys --count 1000 (TCP)"] = ([*tuned, "-p", str(port)], {})
        table["redis-cli 7.4 --memkeys --count 1000 (unix socket)"] = ([*tuned, "-s", socket], {})
    if baseline is not None:
        compile_package(Path(baseline) / "janitor")
        python = [sys.executable, "-m", "janitor"]
        settings = (Path(baseline) / "janitor" / "config" / "settings.py").read_text()
        # An older janitor may know neither the batch bound nor nice (and rejects unknown settings).
        full = FULL if "max_batch_server_time" in settings else UNTHROTTLED
        old_env = {**env, **full, "PYTHONPATH": baseline}
        table["baseline report, full speed"] = (
            [*python, "report", "--url", url, "--format", "json"],
            old_env,
        )
        table["baseline run --dry-run, full speed"] = (
            [*python, *RUN, "--url", url, *RULE],
            old_env,
        )
    return table


def main() -> None:
    """Parse arguments, run the alternating measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="small keys to generate")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (modes alternate)")
    parser.add_argument("--baseline", help="directory holding an older janitor package")
    parser.add_argument(
        "--tuned-cli",
        help="a redis-cli with --count (7.4+, e.g. tests/support/servers.sh redis-7.4.1's"
        " neighbour); its --memkeys --count 1000 joins the comparison",
    )
    parser.add_argument(
        "--only", action="append", help="run only the modes whose name contains this (repeat)"
    )
    args = parser.parse_args()
    with bench_server() as server, tempfile.TemporaryDirectory() as state:
        keys = populate(server, args.keys)
        table = modes(
            server.url, server.port, str(server.socket_path), state, args.baseline, args.tuned_cli
        )
        if args.only:
            wanted = (*args.only, CLI_DEBIAN, "janitor run --dry-run, defaults")
            table = {name: mode for name, mode in table.items() if any(w in name for w in wanted)}
        runs: dict[str, list[ChildRun]] = {name: [] for name in table}
        for round_number in range(1, args.rounds + 1):
            for name, (command, env) in table.items():
                runs[name].append(run_child(server, command, env))
                last = runs[name][-1]
                print(
                    f"round {round_number} {name:40s} {last.seconds:7.2f}s"
                    f"  (CPU stolen by the hypervisor: {last.steal:.0%})",
                    flush=True,
                )
    print_figures(keys, runs, args.rounds)


def print_figures(keys: int, runs: dict[str, list[ChildRun]], rounds: int) -> None:
    """Medians over the rounds, ratios per round against the redis-cli runs of that round."""
    clis = [name for name in runs if name.startswith("redis-cli")]
    fastest = min(clis, key=lambda name: statistics.median(r.seconds for r in runs[name]))
    print(f"\nkeys: {keys:,}; medians of {rounds} alternated rounds; fastest redis-cli: {fastest}")
    print(
        "| mode | wall | keys/s | vs fastest redis-cli | vs Debian redis-cli |"
        " client CPU/key | server CPU/key | peak RSS | CPU stolen |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, tool in runs.items():
        wall = statistics.median(r.seconds for r in tool)
        best = statistics.median(
            f.seconds / r.seconds for r, f in zip(tool, runs[fastest], strict=True)
        )
        debian = statistics.median(
            d.seconds / r.seconds for r, d in zip(tool, runs[CLI_DEBIAN], strict=True)
        )
        client = statistics.median(r.client_cpu_seconds for r in tool) / keys * 1e6
        server = statistics.median(r.server_cpu_seconds for r in tool) / keys * 1e6
        rss = max(r.vm_hwm_bytes for r in tool) / 2**20
        print(
            f"| {name} | {wall:.2f} s | {keys / wall:,.0f} | {best:.2f}x | {debian:.2f}x |"
            f" {client:.2f} µs | {server:.2f} µs | {rss:.0f} MiB |"
            f" {statistics.median(r.steal for r in tool):.0%} |"
        )
    rate = keys / statistics.median(r.seconds for r in runs["janitor run --dry-run, defaults"])
    print(f"\nscheduled runs (scan.max_duration {MAX_DURATION:.0f} s) at {rate:,.0f} keys/s:")
    for total in (10_000_000, 100_000_000):
        per_run = rate * MAX_DURATION
        print(
            f"  {total:>11,} keys: {total / rate / 60:6.1f} min of scanning,"
            f" {max(1, -(-total // int(per_run)))} run(s) of 15 min for a full pass"
        )


if __name__ == "__main__":
    main()
