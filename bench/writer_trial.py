"""The concurrent-writer trial: writes lost when a writer changes judged keys before the action.

For each maxmemory-policy (LRU, LFU) and action (delete, expire, archive), a private
redis-server gets stale keys, a ``run`` pass judges them, and a writer overwrites (same size),
appends to or expires each key right after ``plan.made`` (before its check), and appends again
between the archive DUMP and the UNLINK for half of them. "before" is the pass without the LFU
safety copy (``archive.lfu_safety_copy = false``, the old behaviour), "after" with it; the two
alternate round by round. A write is lost when neither Redis (without a TTL the janitor set)
nor the archive holds it.

    .venv/bin/python bench/writer_trial.py --rounds 5 --keys 50
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.writer_trial import run_trial  # noqa: E402


def main() -> None:
    """Run the trial and print one line per policy and action."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", type=int, default=50)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(f"{'policy':6} {'action':8} {'writes':>7} {'lost before':>12} {'lost after':>11}")
    with tempfile.TemporaryDirectory(prefix="janitor-trial-") as workdir:
        server = RedisServer(Path(workdir) / "redis", {}).start()
        try:
            for lfu in (False, True):
                for action in ("delete", "expire", "archive"):
                    writes, lost = 0, {False: 0, True: 0}
                    for round_number in range(args.rounds):
                        for safety in (False, True):
                            archive = Path(workdir) / f"a-{lfu}-{action}-{round_number}-{safety}"
                            trial = run_trial(
                                server,
                                action,
                                archive,
                                lfu=lfu,
                                keys=args.keys,
                                lfu_safety_copy=safety,
                            )
                            lost[safety] += len(trial.lost)
                            writes += trial.writes if safety else 0
                    policy = "lfu" if lfu else "lru"
                    print(f"{policy:6} {action:8} {writes:7} {lost[False]:12} {lost[True]:11}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
