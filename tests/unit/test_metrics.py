"""Prometheus textfile: parses with prometheus-client's parser, replaced atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from janitor.adapters.prometheus import MetricsStore, PassMetrics, publish_textfile, write_textfile

INSTANCE = "redis://:***@10.0.0.5:6379"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def full_result(**changes: object) -> PassMetrics:
    result = PassMetrics(
        instance=INSTANCE,
        finished_at=1_800_000_000.5,
        duration_seconds=12.25,
        succeeded=True,
        scanned_keys=1000,
        acted_keys={"archive": 3, "delete": 2},
        freed_bytes=4096,
        fork_charge_bytes=10_000,
        commit_headroom_bytes=-500,
        cow_headroom_bytes=7000,
        verdict=2,
        writes_refused=True,
        role="primary",
        shard="07c37dfe",
    )
    for name, value in changes.items():
        setattr(result, name, value)
    return result


def test_every_metric_parses_with_the_instance_role_and_shard_labels(tmp_path: Path) -> None:
    path = tmp_path / "janitor.prom"
    publish_textfile(path, [full_result()])

    found = samples(path.read_text())
    label = (("instance", INSTANCE), ("role", "primary"), ("shard", "07c37dfe"))
    assert found[("redis_janitor_last_success_timestamp_seconds", label)] == 1_800_000_000.5
    assert found[("redis_janitor_last_run_success", label)] == 1.0
    assert found[("redis_janitor_last_run_duration_seconds", label)] == 12.25
    assert found[("redis_janitor_scanned_keys", label)] == 1000
    assert found[("redis_janitor_freed_bytes", label)] == 4096
    assert found[("redis_janitor_fork_charge_bytes", label)] == 10_000
    assert found[("redis_janitor_commit_headroom_bytes", label)] == -500
    assert found[("redis_janitor_cow_headroom_bytes", label)] == 7000
    assert found[("redis_janitor_verdict", label)] == 2
    assert found[("redis_janitor_writes_refused", label)] == 1
    acted = (("action", "archive"), *label)
    assert found[("redis_janitor_acted_keys", acted)] == 3
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_unknown_figures_are_omitted_not_zero() -> None:
    store = MetricsStore()
    store.update([PassMetrics(INSTANCE, 1.0, 2.0, True, scanned_keys=5)])
    names = {name for name, _ in samples(store.exposition().decode())}
    assert "redis_janitor_scanned_keys" in names
    assert not names & {"redis_janitor_verdict", "redis_janitor_freed_bytes"}


def test_last_success_survives_a_failure_even_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "janitor.prom"
    publish_textfile(path, [full_result(finished_at=100.0)])
    failed = PassMetrics(INSTANCE, 200.0, 1.0, succeeded=False, role="primary", shard="07c37dfe")
    publish_textfile(path, [failed])

    found = samples(path.read_text())
    label = (("instance", INSTANCE), ("role", "primary"), ("shard", "07c37dfe"))
    assert found[("redis_janitor_last_success_timestamp_seconds", label)] == 100.0
    assert found[("redis_janitor_last_run_success", label)] == 0.0
    assert ("redis_janitor_verdict", label) not in found


def test_textfile_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "janitor.prom"
    write_textfile(path, b"old 1\n")
    inode = path.stat().st_ino
    with path.open("rb") as reader_of_old:
        write_textfile(path, b"new 2\n")
        assert reader_of_old.read() == b"old 1\n"  # a reader never sees a mix
    assert path.read_bytes() == b"new 2\n"
    assert path.stat().st_ino != inode  # a rename, not a rewrite in place
    assert os.listdir(tmp_path) == ["janitor.prom"]  # no temp file left behind


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "janitor.prom"
    write_textfile(path, b"old 1\n")

    def broken_fsync(_: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_textfile(path, b"new 2\n")
    assert path.read_bytes() == b"old 1\n"
    assert os.listdir(tmp_path) == ["janitor.prom"]
