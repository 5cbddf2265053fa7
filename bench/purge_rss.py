"""Measure how deleting keys and MEMORY PURGE move a redis-server's VmRSS (jemalloc).

Starts its own redis-server (never touches another Redis), fills it with big strings and with
many small hashes, then for each kind unlinks most of it and prints VmRSS (from /proc) right
after UNLINK, right after MEMORY PURGE, and ``--settle`` seconds later. This is what the rescue's
free → MEMORY PURGE → measure loop and the fork-failure tests (VmRSS threshold) rely on.

    .venv/bin/python bench/purge_rss.py --big-mib 48 --small-keys 200000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.forkfail import vm_rss_bytes  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

MIB = 1 << 20


def rss_mib(server: RedisServer) -> float:
    assert server.process is not None
    return vm_rss_bytes(server.process.pid) / MIB


def measure(
    server: RedisServer, label: str, fill: int, pattern: str, keep: int, settle: float
) -> None:
    client = server.client()
    keys = sorted(client.scan_iter(match=pattern, count=10_000))
    full = rss_mib(server)
    doomed = keys[keep:]
    for start in range(0, len(doomed), 1000):
        client.unlink(*doomed[start : start + 1000])
    after_unlink = rss_mib(server)
    client.execute_command("MEMORY", "PURGE")
    after_purge = rss_mib(server)
    time.sleep(settle)
    settled = rss_mib(server)
    print(
        f"{label:>13}: {fill} keys, {len(doomed)} unlinked | RSS MiB "
        f"full {full:.1f} → after UNLINK {after_unlink:.1f} → after MEMORY PURGE "
        f"{after_purge:.1f} → {settle:.0f}s later {settled:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mib", type=int, default=48, help="1 MiB strings to plant")
    parser.add_argument("--small-keys", type=int, default=200_000, help="small hashes to plant")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait at the end")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir)).start()
        try:
            client = server.client()
            empty = rss_mib(server)
            for index in range(options.big_mib):
                client.set(f"big:{index}", os.urandom(MIB))
            print(f"empty server RSS {empty:.1f} MiB")
            measure(server, "big strings", options.big_mib, "big:*", 8, options.settle)
            pipe = client.pipeline(transaction=False)
            for index in range(options.small_keys):
                pipe.hset(f"small:{index}", mapping={"a": "x" * 40, "b": index})
                if index % 10_000 == 9_999:
                    pipe.execute()
            pipe.execute()
            measure(server, "small hashes", options.small_keys, "small:*", 0, options.settle)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
