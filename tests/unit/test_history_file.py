"""The history file: samples round-trip, the size cap, concurrent writers, a torn last line."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from janitor.adapters.files.history import HistoryFile
from janitor.domain.history import Sample, SampleError, decode, encode, select_info


def sample(ts: float, instance: str = "redis://127.0.0.1:7000", **extra: object) -> Sample:
    return Sample(ts=ts, instance=instance, source="run", commit_headroom=1000 + int(ts), **extra)  # type: ignore[arg-type]


def test_sample_round_trips_with_info_fields() -> None:
    info = select_info(
        {
            "rdb_last_cow_size": 4096,
            "mem_fragmentation_ratio": 1.25,
            "rdb_last_bgsave_status": "ok",
            "redis_version": "7.2.4",
            "aof_enabled": 0,
        }
    )
    original = sample(12.5, freed_bytes=10, keys_acted=2, verdict="warn", info=info)
    line = encode(original)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line) == original
    assert set(info) == {
        "rdb_last_cow_size",
        "mem_fragmentation_ratio",
        "rdb_last_bgsave_status",
        "aof_enabled",
    }


def test_the_key_count_of_all_dbs_is_kept_for_the_cow_prior() -> None:
    info = select_info({"db0": {"keys": 10, "expires": 1}, "db3": {"keys": 5}, "aof_enabled": 0})
    assert info == {"aof_enabled": 0, "keys": 15}
    assert "keys" not in select_info({"aof_enabled": 0})


def test_read_since_and_missing_file(tmp_path: Path) -> None:
    history = HistoryFile(tmp_path / "h.jsonl", 1 << 20)
    assert history.read().samples == []
    history.append([sample(1), sample(2)])
    history.append([sample(3)])
    assert [s.ts for s in history.read().samples] == [1, 2, 3]
    assert [s.ts for s in history.read(since=2).samples] == [2, 3]


def test_size_cap_drops_the_oldest(tmp_path: Path) -> None:
    history = HistoryFile(tmp_path / "h.jsonl", 4000)
    for ts in range(200):
        history.append([sample(ts)])
    assert history.path.stat().st_size <= 4000
    timestamps = [s.ts for s in history.read().samples]
    assert timestamps[-1] == 199
    assert timestamps == list(range(int(timestamps[0]), 200))
    assert len(timestamps) > 20


def test_torn_last_line_is_skipped_and_reported(tmp_path: Path) -> None:
    history = HistoryFile(tmp_path / "h.jsonl", 1 << 20)
    history.append([sample(1), sample(2)])
    with history.path.open("ab") as file:
        file.write(encode(sample(3))[:25])  # a writer killed mid-line
    read = history.read()
    assert [s.ts for s in read.samples] == [1, 2]
    assert read.torn_tail and read.skipped == 1
    assert "torn" in read.problems[0]
    history.append([sample(4)])
    read = history.read()
    assert [s.ts for s in read.samples] == [1, 2, 4]
    assert read.skipped == 1 and not read.torn_tail


def _writer(path: str, writer: int, count: int) -> None:
    history = HistoryFile(Path(path), 60_000)
    for index in range(count):
        history.append([sample(writer * 10_000 + index, instance=f"redis://w{writer}")])


def test_concurrent_writers_lose_nothing_but_the_trimmed_oldest(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), w, 150)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    read = HistoryFile(path, 60_000).read()
    assert read.skipped == 0 and not read.torn_tail
    assert path.stat().st_size <= 60_000
    for writer in range(4):
        mine = [s.ts for s in read.samples if s.instance == f"redis://w{writer}"]
        assert mine, writer
        # each writer's surviving samples are its newest ones, in order, none missing
        assert mine == [writer * 10_000 + i for i in range(150 - len(mine), 150)]


def test_lines_that_are_not_samples_are_rejected() -> None:
    for line in (b"[1]", b'{"instance": "a", "source": "run"}', b'{"ts": true, "instance": "a",'
                 b' "source": "run"}', b'{"ts": 1, "instance": "a", "source": "run", "rss": 1.5}',
                 b"\xff\xfe"):  # fmt: skip
        with pytest.raises(SampleError):
            decode(line)
    newer = decode(b'{"ts": 1, "instance": "a", "source": "run", "future_field": 3, "info": {}}')
    assert newer.ts == 1.0 and newer.headroom is None and not newer.is_cleanup
