"""Benchmark: peak RSS of ``redis-janitor report`` as the keyspace grows (it must stay flat).

Starts its own redis-server on a free loopback port, grows one dataset through the given sizes
(``DEBUG POPULATE`` small strings plus big strings and hashes; about 1.3 GB of server memory at
10M keys) and at each size runs ``redis-janitor report --format json`` once (unthrottled:
``JANITOR_SCAN__MAX_SERVER_CPU=1``), printing the
janitor process's peak RSS (its ``ru_maxrss`` from ``wait4`` and its ``VmHWM`` polled from /proc),
its wall time and keys/s.

    .venv/bin/python bench/rss.py --sizes 1000000,3000000,10000000
"""

from __future__ import annotations

import argparse

from support import CLI, UNTHROTTLED, bench_server, own_peak_rss_bytes, populate, run_child


def main() -> None:
    """Parse arguments, grow the dataset, print the RSS curve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", default="1000000,3000000,10000000", help="comma-separated small-key counts"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"{'keys':>12s} {'ru_maxrss':>10s} {'VmHWM':>10s} {'seconds':>8s} {'keys/s':>10s}")
    with bench_server() as server:
        for size in sizes:
            keys = populate(server, size)
            report = [CLI, "report", "--url", server.url, "--format", "json"]
            run = run_child(server, report, UNTHROTTLED)
            print(
                f"{keys:12,d} {run.peak_rss_bytes / 2**20:6.1f} MiB"
                f" {run.vm_hwm_bytes / 2**20:6.1f} MiB {run.seconds:8.2f}"
                f" {keys / run.seconds:10,.0f}",
                flush=True,
            )
    print(
        f"(floor: this bench process peaked at {own_peak_rss_bytes() / 2**20:.1f} MiB; a child's"
        " ru_maxrss cannot read below its parent's size at fork)"
    )


if __name__ == "__main__":
    main()
