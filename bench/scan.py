"""Benchmark: keys/s of ``redis-janitor report`` against ``redis-cli --memkeys`` on the same data.

Starts its own redis-server on a free port (never touches another Redis), fills it with
``DEBUG POPULATE`` small strings plus some big strings and hashes, then times both tools
alternately, ``--rounds`` times each, and prints keys/s and the ratio.

    .venv/bin/python bench/scan.py --keys 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.redis_server import RedisServer  # noqa: E402

CLI = str(Path(sys.executable).with_name("redis-janitor"))


def populate(server: RedisServer, small_keys: int) -> int:
    """Fill the server; return the number of keys."""
    client = server.client()
    client.execute_command("DEBUG", "POPULATE", small_keys, "small", 64)
    pipe = client.pipeline(transaction=False)
    for index in range(200):
        pipe.set(f"big:string:{index}", b"x" * 200_000)
        pipe.hset(f"big:hash:{index}", mapping={f"field{n}": "v" * 32 for n in range(500)})
    pipe.execute()
    return int(client.dbsize())


def time_command(command: list[str]) -> float:
    """Run ``command`` (output discarded) and return the wall-clock seconds it took."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    """Parse arguments, run the alternating measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000, help="small keys to generate")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="janitor-bench-") as workdir:
        server = RedisServer(Path(workdir), {"enable-debug-command": "yes"}).start()
        try:
            keys = populate(server, args.keys)
            janitor = [CLI, "report", "--url", server.url, "--format", "json"]
            memkeys = ["redis-cli", "-p", str(server.port), "--memkeys"]
            timings: dict[str, list[float]] = {
                name: [] for name in ("redis-janitor report", "redis-cli --memkeys")
            }
            for _ in range(args.rounds):
                timings["redis-janitor report"].append(time_command(janitor))
                timings["redis-cli --memkeys"].append(time_command(memkeys))
        finally:
            server.stop()
    print(f"keys: {keys:,} (redis-server {server.url}, {args.rounds} alternating rounds)")
    rates = {}
    for name, seconds in timings.items():
        best = min(seconds)
        rates[name] = keys / best
        print(
            f"{name:24s} best {best:6.2f}s  median {statistics.median(seconds):6.2f}s  "
            f"{rates[name]:>10,.0f} keys/s"
        )
    ratio = rates["redis-janitor report"] / rates["redis-cli --memkeys"]
    print(f"ratio janitor/redis-cli: {ratio:.2f}x")


if __name__ == "__main__":
    main()
