"""Predicted vs measured copy-on-write of BGSAVE under controlled write loads.

Starts its own redis-server (never another Redis), fills it with ``--keys`` strings of
``--value-bytes`` (DEBUG POPULATE), samples INFO every ``--interval`` seconds the way the janitor
records its history, and runs real BGSAVEs while a writer process overwrites existing keys at a
fixed rate (none, moderate, heavy; random or sequential key order). Before each save it asks the
COW model (``janitor.domain.cow_model.predict_cow``) for the next save's COW from the samples so
far, then compares with the ``rdb_last_cow_size`` the save reports. The reference column is the
rule the janitor used before (largest last COW figure, else 0.5 x RSS), measured in the same run.
"window" is the model given a dirty-page window (``CowFacts.dirty``), emulated because this host's
kernel keeps no soft-dirty bits: the child's ``Private_Dirty`` 2 s after the fork (the pages the
parent dirtied since) with the writes meanwhile (docs/domain.md §5, the dirty-page window).

    .venv/bin/python bench/cow.py --record tests/fixtures/cow/run.json
    .venv/bin/python bench/cow.py --replay tests/fixtures/cow/run.json   # the model, no server
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import random
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from support import bench_server  # type: ignore[import-not-found]

from janitor.adapters.host.memory import PAGE_SIZE, ProcReader
from janitor.adapters.redis.info import read_disable_thp
from janitor.domain.cow_model import CowFacts, predict_cow
from janitor.domain.history import select_info
from tests.support.cow_replay import replay, with_window
from tests.support.redis_server import RedisServer, wait_for

MIB = 1 << 20
SAMPLED_BESIDE = ("rdb_last_save_time", "connected_slaves", "used_memory_rss")
"""What the bench keeps of INFO beside what the janitor's history keeps (``select_info``)."""
WINDOW_SECONDS = 2.0
"""The emulated dirty-page window: the child's Private_Dirty this long after the fork."""
RATES = {"none": 0, "moderate": 5_000, "heavy": 20_000}
PLANS: dict[str, list[tuple[str, str, int]]] = {}
PLANS["overwrites"] = PLAN = [
    ("none", "-", 2),
    ("moderate", "random", 2),
    ("heavy", "random", 2),
    ("none", "-", 2),
    ("heavy", "random", 1),
    ("moderate", "sequential", 2),
    ("heavy", "sequential", 2),
    ("none", "-", 1),
    ("moderate", "random", 1),
]
PLANS["inserts"] = [
    ("none", "-", 2),
    ("moderate", "new", 2),
    ("heavy", "new", 2),
    ("none", "-", 1),
    ("heavy", "random", 1),
    ("heavy", "new", 1),
]
"""New keys (``new``) land in memory allocated after the fork, which the child never shares."""


def writer(port: int, rate: int, keys: int, pattern: str, value_bytes: int, stop: Any) -> None:
    """Overwrite existing keys (``key:N``; ``pattern`` random or sequential) or add new ones
    (``new``) at ``rate`` per second until ``stop`` is set."""
    import redis

    client = redis.Redis(port=port)
    value, batch = b"w" * value_bytes, 50
    cursor, sent, started = random.randrange(keys), 0, time.monotonic()
    while not stop.is_set():
        pipe = client.pipeline(transaction=False)
        for _ in range(batch):
            if pattern == "new":
                cursor += 1
                pipe.set(b"new:%d:%d" % (os.getpid(), cursor), value)
                continue
            cursor = (cursor + 1) % keys if pattern == "sequential" else random.randrange(keys)
            pipe.set(b"key:%d" % cursor, value)
        pipe.execute()
        sent += batch
        ahead = sent / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


def sample(server: RedisServer) -> dict[str, Any]:
    """One history-like sample of the server's INFO."""
    info = server.client().info()
    return {
        "ts": time.time(),
        "instance": "bench",
        "source": "bench",
        "used_memory": info["used_memory"],
        "rss": info["used_memory_rss"],
        "info": {**select_info(info), **{n: info[n] for n in SAMPLED_BESIDE if n in info}},
    }


class Sampler(threading.Thread):
    """Samples INFO every ``interval`` seconds into ``samples``."""

    def __init__(self, server: RedisServer, interval: float) -> None:
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.samples: list[dict[str, Any]] = []
        self.lock, self.done = threading.Lock(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            one = sample(self.server)
            with self.lock:
                self.samples.append(one)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.samples)


def facts_now(server: RedisServer, thp: str | None, disable_thp: bool | None) -> CowFacts:
    now = sample(server)
    return CowFacts(
        info=now["info"], ts=now["ts"], rss_bytes=now["rss"], page_size=PAGE_SIZE,
        thp_enabled=thp, disable_thp=disable_thp,
    )  # fmt: skip


def old_rule(info: dict[str, Any], rss: int) -> int:
    """The janitor's former expected COW: largest last COW figure, else 0.5 x RSS."""
    names = ("rdb_last_cow_size", "aof_last_cow_size", "current_cow_peak")
    return max(int(info.get(n, 0)) for n in names) or rss // 2


def child_private_dirty(pid: int) -> int | None:
    """Private_Dirty of the fork child of ``pid`` (the pages the parent dirtied since the fork,
    plus the child's own few), None when it has none or it ended."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for line in Path(f"/proc/{children[0]}/smaps_rollup").read_text().splitlines():
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        return None
    return None


def bgsave(
    server: RedisServer, changes_before: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run one BGSAVE; return INFO persistence after it and the emulated dirty-page window: the
    child's ``Private_Dirty`` ``WINDOW_SECONDS`` after the fork (the distinct pages the parent
    dirtied since) with the writes made meanwhile."""
    client = server.client()
    pid = int(client.info("server")["process_id"])
    forks = int(client.info("stats")["total_forks"])
    started = time.monotonic()
    client.bgsave()
    window: dict[str, Any] | None = None

    def finished() -> bool:
        nonlocal window
        elapsed = time.monotonic() - started
        if window is None and elapsed >= WINDOW_SECONDS:
            dirty = child_private_dirty(pid)
            changes = int(client.info("persistence")["rdb_changes_since_last_save"])
            seconds = time.monotonic() - started
            window = {}
            if dirty is not None and changes >= changes_before:
                writes = changes - changes_before
                window = {"pages": dirty // PAGE_SIZE, "seconds": seconds, "writes": writes}
        forked = int(client.info("stats")["total_forks"]) > forks
        return forked and client.info("persistence")["rdb_bgsave_in_progress"] == 0

    wait_for(finished, timeout=300, interval=0.05, what="BGSAVE to finish")
    return dict(client.info("persistence")), window or None


def run(options: argparse.Namespace) -> dict[str, Any]:
    thp = ProcReader().thp_enabled()
    rows: list[dict[str, Any]] = []
    with bench_server() as server:
        client = server.client()
        client.execute_command("DEBUG", "POPULATE", options.keys, "key", options.value_bytes)
        if options.save_delay:
            client.config_set("rdb-key-save-delay", options.save_delay)
        disable_thp = read_disable_thp(client)
        sampler = Sampler(server, options.interval)
        sampler.start()
        for load, pattern, saves in PLANS[options.plan]:
            stop = multiprocessing.Event()
            process = None
            if RATES[load]:
                args = (server.port, RATES[load], options.keys, pattern, options.value_bytes, stop)
                process = multiprocessing.Process(target=writer, args=args)
                process.start()
            time.sleep(options.warmup)
            for _ in range(saves):
                facts = facts_now(server, thp, disable_thp)
                history = sampler.snapshot()
                prediction = predict_cow(history, facts)
                changes = int(facts.info.get("rdb_changes_since_last_save", 0))
                persistence, window = bgsave(server, changes)
                time.sleep(options.interval)  # the sampler sees the save end, as the janitor would
                measured = int(persistence["rdb_last_cow_size"])
                seconds = int(persistence["rdb_last_bgsave_time_sec"])
                hindsight = predict_cow(history, replace(facts, expected_seconds=seconds))
                windowed = predict_cow(history, with_window(facts, window))
                rows.append({
                    "load": load, "pattern": pattern, "ts": facts.ts,
                    "facts": {"info": dict(facts.info), "rss": facts.rss_bytes},
                    "saves_seen": prediction.saves_observed, "predicted": prediction.bytes,
                    "estimated": prediction.estimated, "source": prediction.source,
                    "write_rate": prediction.write_rate, "measured": measured,
                    "old_rule": old_rule(dict(facts.info), facts.rss_bytes),
                    "seconds": seconds, "hindsight": hindsight.bytes,
                    "window": window, "windowed": windowed.bytes,
                    "reasons": list(prediction.reasons),
                })  # fmt: skip
                print_row(len(rows), rows[-1], flush=True)
            stop.set()
            if process is not None:
                process.join()
        sampler.done.set()
        sampler.join()
        meta = {
            "keys": options.keys, "value_bytes": options.value_bytes,
            "redis_version": client.info("server")["redis_version"], "thp_enabled": thp,
            "disable_thp": disable_thp, "page_size": PAGE_SIZE, "interval": options.interval,
            "save_delay": options.save_delay, "plan": options.plan,
        }  # fmt: skip
    return {"meta": meta, "samples": sampler.snapshot(), "rows": rows}


def error(predicted: int, measured: int) -> float:
    return 100.0 * (predicted - measured) / max(measured, 1)


def summary(column: str, rows: list[dict[str, Any]]) -> str:
    """How many of ``rows`` the ``column`` predicted within 25 %, the median and worst errors."""
    errors = sorted(error(r.get(column, r["predicted"]), r["measured"]) for r in rows)
    if not errors:
        return f"{column}: no rows"
    within = sum(1 for e in errors if abs(e) <= 25)
    median = sorted(abs(e) for e in errors)[len(errors) // 2]
    return (
        f"{column:>9}: {within}/{len(errors)} within ±25 %, median |error| {median:.0f} %, "
        f"from {errors[0]:+.0f} % to {errors[-1]:+.0f} %"
    )


HEADER = (
    f"{'#':>2} {'load':>8} {'pattern':>10} {'rate/s':>7} {'seen':>4} {'secs':>4} "
    f"{'predicted':>10} {'measured':>9} {'error':>7}  {'hindsight':>9} {'error':>7}  "
    f"{'window':>9} {'error':>7}  "
    f"{'old rule':>9} {'error':>7}  source"
)


def print_row(index: int, row: dict[str, Any], flush: bool = False) -> None:
    if index == 1:
        print(HEADER)
    rate = f"{row['write_rate']:.0f}" if row["write_rate"] is not None else "?"
    windowed = row.get("windowed", row["predicted"])
    mark = "~" if row["estimated"] else " "
    print(
        f"{index:>2} {row['load']:>8} {row['pattern']:>10} {rate:>7} {row['saves_seen']:>4} "
        f"{row['seconds']:>4} {mark}{row['predicted'] / MIB:>8.1f}M {row['measured'] / MIB:>8.1f}M "
        f"{error(row['predicted'], row['measured']):>+6.0f}%  {row['hindsight'] / MIB:>8.1f}M "
        f"{error(row['hindsight'], row['measured']):>+6.0f}%  {windowed / MIB:>8.1f}M "
        f"{error(windowed, row['measured']):>+6.0f}%  {row['old_rule'] / MIB:>8.1f}M "
        f"{error(row['old_rule'], row['measured']):>+6.0f}%  {row['source']}",
        flush=flush,
    )


EN_DASH, MINUS = "\u2013", "\u2212"
MARKDOWN_HEADER = (
    "| # | load | keys | writes/s | saves seen | save (s) | predicted | measured | error "
    "| with window | error | old rule | error |\n"
    "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def markdown_row(index: int, row: dict[str, Any]) -> str:
    """One row of the README's tables; ¹ marks a window the model did not use."""
    rate = f"{row['write_rate']:,.0f}" if row["write_rate"] is not None else "?"
    windowed = row.get("windowed", row["predicted"])
    used = any("soft-dirty window" in r for r in row.get("windowed_reasons", []))
    mark = "" if used else " ¹"
    estimated = " (est.)" if row["estimated"] else ""
    pattern = EN_DASH if row["pattern"] == "-" else row["pattern"]
    cells = [
        str(index), row["load"], pattern, rate, str(row["saves_seen"]), str(row["seconds"]),
        f"{row['predicted'] / MIB:.1f} MiB{estimated}", f"{row['measured'] / MIB:.1f} MiB",
        signed(error(row["predicted"], row["measured"])), f"{windowed / MIB:.1f} MiB{mark}",
        signed(error(windowed, row["measured"])), f"{row['old_rule'] / MIB:.1f} MiB",
        signed(error(row["old_rule"], row["measured"])),
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def signed(percent: float) -> str:
    """``+5 %`` or ``\u22124 %`` (a minus sign, as the README writes it)."""
    return f"{percent:+.0f} %".replace("-", MINUS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_500_000)
    parser.add_argument("--value-bytes", type=int, default=400)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of load before saves")
    parser.add_argument(
        "--save-delay",
        type=int,
        default=0,
        help="rdb-key-save-delay: longer saves, as on a loaded host (-N: sleep 1 µs per N keys)",
    )
    parser.add_argument(
        "--plan", choices=sorted(PLANS), default="overwrites", help="which loads, in what order"
    )
    parser.add_argument("--record", type=Path, help="write samples and rows as JSON here")
    parser.add_argument(
        "--replay", type=Path, nargs="+", help="rerun the model on recorded runs (pooled summary)"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="with --replay: the rows as Markdown tables"
    )
    options = parser.parse_args()
    started = time.monotonic()
    if options.replay:
        runs = []
        for path in options.replay:
            recorded = json.loads(path.read_text())
            recorded["rows"] = replay(recorded)
            print(f"{path}:")
            if options.markdown:
                print(MARKDOWN_HEADER)
            for index, row in enumerate(recorded["rows"], 1):
                if options.markdown:
                    print(markdown_row(index, row))
                else:
                    print_row(index, row)
            runs.append(recorded["rows"])
    else:
        result = run(options)
        runs = [result["rows"]]
    judged = [r for rows in runs for r in rows if r["saves_seen"] >= 2]
    print(f"~ estimated (fewer than two saves seen); rows with >= 2 saves seen: {len(judged)} "
          f"({time.monotonic() - started:.0f} s)")  # fmt: skip
    for column in ("predicted", "windowed", "old_rule"):
        print(summary(column, judged))
    after_quiet = [
        row for rows in runs for previous, row in itertools.pairwise(rows)
        if previous["load"] == "none" and row["load"] != "none" and row["saves_seen"] >= 2
    ]  # fmt: skip
    print(f"busy saves right after a quiet one: {summary('predicted', after_quiet)}")
    one_pattern = [
        row for rows in runs for row in itertools.takewhile(
            lambda r: r["pattern"] != "sequential", rows
        ) if row["saves_seen"] >= 2
    ]  # fmt: skip
    print(f"one key pattern (each run up to its first sequential-key save): "
          f"{summary('predicted', one_pattern)}")  # fmt: skip
    if options.record and not options.replay:
        options.record.parent.mkdir(parents=True, exist_ok=True)
        options.record.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
