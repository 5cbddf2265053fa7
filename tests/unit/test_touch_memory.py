"""The janitor's own touches (DUMP on Redis < 7.2) are credited back, and only those."""

from __future__ import annotations

from pathlib import Path

from janitor.adapters.files.touch_memory import Touch, TouchMemory, credited_idle
from janitor.domain.keys import KeyRecord

DAY = 86400


def record(idle: int, key: bytes = b"k\xff") -> KeyRecord:
    return KeyRecord(0, key, "string", 100, idle, None, None)


def test_a_key_untouched_since_the_janitor_is_credited_its_judged_idle_time() -> None:
    touch = Touch(idle=40 * DAY, at=1000.0)
    assert credited_idle(observed=300, touch=touch, now=1300.0) == 40 * DAY + 300
    assert credited_idle(observed=299, touch=touch, now=1301.0) == 40 * DAY + 301


def test_a_key_used_after_the_janitor_touched_it_is_not_credited() -> None:
    assert credited_idle(observed=10, touch=Touch(40 * DAY, 1000.0), now=1300.0) is None


def test_memory_survives_a_restart_and_is_forgotten_once_the_key_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "touches" / "x.jsonl"
    TouchMemory(path).touched(record(40 * DAY), at=1000.0)
    later = TouchMemory(path)
    adjusted = later.adjust(record(60), now=1060.0)
    assert adjusted.idle_seconds == 40 * DAY + 60
    assert later.credits == {(0, b"k\xff"): 40 * DAY}
    later.forget(record(60))
    assert TouchMemory(path).adjust(record(60), now=1060.0).idle_seconds == 60


def test_a_used_key_is_dropped_and_compaction_removes_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    memory = TouchMemory(path)
    memory.touched(record(40 * DAY), at=1000.0)
    assert memory.adjust(record(5), now=2000.0).idle_seconds == 5
    memory.compact()
    assert not path.exists()


def test_a_torn_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    TouchMemory(path).touched(record(40 * DAY, b"a"), at=1000.0)
    with path.open("a") as handle:
        handle.write('{"db": 0, "key": "Yg==", "idle"')
    memory = TouchMemory(path)
    assert memory.adjust(record(10, b"a"), now=1010.0).idle_seconds == 40 * DAY + 10
    assert memory.adjust(record(10, b"b"), now=1010.0).idle_seconds == 10
    memory.compact()
    assert len(path.read_text().splitlines()) == 1
