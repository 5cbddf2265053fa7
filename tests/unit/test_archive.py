"""Archive files: round trip, torn tails, corruption and permissions (filesystem, no Redis)."""

from __future__ import annotations

import os
import resource
import signal
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from janitor.adapters.files.archive import (
    FILE_MAGIC,
    FRAME_MAGIC,
    ArchiveError,
    ArchiveReader,
    ArchiveRecord,
    ArchiveWriter,
    archive_files,
)

KEYS = [b"plain", b"\xff\xfe bin\nary\x00", b"caf\xc3\xa9"]


def sample(key: bytes, index: int = 0) -> ArchiveRecord:
    return ArchiveRecord(
        db=index,
        key=key,
        type="string",
        payload=bytes(range(256)) * (index + 1),
        expire_at_ms=1_900_000_000_000 if index else None,
        idle_seconds=1000 + index,
        freq=None,
        size_bytes=300 + index,
        source="redis://:***@127.0.0.1:6379",
        run_id="run1",
        archived_at=1_800_000_000.5,
        rule="old",
    )


def write(directory: Path, records: list[ArchiveRecord]) -> Path:
    writer = ArchiveWriter(directory, "run1", "redis://:***@127.0.0.1:6379")
    for record in records:
        writer.append(record)
    writer.close()
    assert writer.path is not None
    return writer.path


def test_round_trip_keeps_every_field_byte_exact(tmp_path: Path) -> None:
    records = [sample(key, index) for index, key in enumerate(KEYS)]
    path = write(tmp_path / "archive", records)
    reader = ArchiveReader(path)
    assert list(reader) == records
    assert reader.torn_tail is False
    assert reader.damage is None
    assert reader.header["format"] == "redis-janitor-archive"
    assert reader.header["version"] == 2
    assert reader.header["run_id"] == "run1"
    assert path.read_bytes().startswith(FILE_MAGIC)


def test_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = write(tmp_path / "deep" / "archive", [sample(b"k")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o755)
    with pytest.raises(ArchiveError, match=r"chmod|0755"):
        write(loose, [sample(b"k")])
    assert list(loose.iterdir()) == []


@pytest.mark.parametrize("cut", [1, 5, 11, 12, 40])
def test_torn_last_record_is_ignored_and_earlier_records_survive(tmp_path: Path, cut: int) -> None:
    records = [sample(key, index) for index, key in enumerate(KEYS)]
    writer = ArchiveWriter(tmp_path / "archive", "run1", "redis://127.0.0.1:6379")
    for record in records[:2]:
        writer.append(record)
    assert writer.path is not None
    two_records = writer.path.stat().st_size
    writer.append(records[2])
    writer.close()
    path = writer.path
    path.write_bytes(path.read_bytes()[: two_records + cut])
    reader = ArchiveReader(path)
    assert list(reader) == records[:2]
    assert reader.torn_tail is True
    assert reader.damage is not None


def test_crash_right_after_creation_reads_as_empty_and_torn(tmp_path: Path) -> None:
    path = tmp_path / "x.rja"
    path.write_bytes(FILE_MAGIC[:4])
    reader = ArchiveReader(path)
    assert list(reader) == []
    assert reader.torn_tail is True


def test_corruption_in_the_middle_is_damage_and_later_records_are_still_read(
    tmp_path: Path,
) -> None:
    records = [sample(key, index) for index, key in enumerate(KEYS)]
    path = write(tmp_path / "archive", records)
    data = bytearray(path.read_bytes())
    first_record = data.index(FRAME_MAGIC, len(FILE_MAGIC) + 4)
    data[first_record + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    reader = ArchiveReader(path)
    assert list(reader) == records[1:]
    assert reader.torn_tail is False
    assert f"corrupt frame (CRC mismatch) at byte {first_record}" in (reader.damage or "")


def test_a_length_pointing_past_the_end_mid_file_is_damage_not_a_tail(tmp_path: Path) -> None:
    records = [sample(key, index) for index, key in enumerate(KEYS)]
    path = write(tmp_path / "archive", records)
    data = bytearray(path.read_bytes())
    first_record = data.index(FRAME_MAGIC, len(FILE_MAGIC) + 4)
    data[first_record + 4] ^= 0x80  # high byte of the length
    path.write_bytes(bytes(data))
    reader = ArchiveReader(path)
    assert list(reader) == records[1:]
    assert reader.torn_tail is False
    assert reader.damaged_regions == 1


def test_archive_files_lists_a_directory_or_a_file(tmp_path: Path) -> None:
    first = write(tmp_path / "a", [sample(b"k")])
    (tmp_path / "a" / "notes.txt").write_text("x")
    assert archive_files(tmp_path / "a") == [first]
    assert archive_files(first) == [first]
    with pytest.raises(ArchiveError):
        archive_files(tmp_path / "missing")


def test_a_failed_write_is_cut_back_so_later_records_stay_readable(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path / "archive", "run1", "redis://127.0.0.1:6379", level=0)
    small = [sample(b"a"), sample(b"c")]
    too_big = replace(sample(b"b"), payload=b"\x00" * 200_000)
    writer.append(small[0])
    assert writer.path is not None
    limit = writer.path.stat().st_size + 50_000
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        with pytest.raises(OSError, match="too large"):
            writer.append(too_big)
        writer.append(small[1])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
    writer.close()
    reader = ArchiveReader(writer.path)
    assert list(reader) == small
    assert reader.damage is None
