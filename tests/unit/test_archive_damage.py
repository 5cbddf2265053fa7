"""Damaged archives: every byte flipped, every truncation, old files, no empty files left."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from janitor.adapters.files.archive import FILE_MAGIC, ArchiveReader, ArchiveRecord, ArchiveWriter

SOURCE = "redis://127.0.0.1:6379"


def record(index: int) -> ArchiveRecord:
    return ArchiveRecord(
        db=index % 2,
        key=f"key:{index}".encode(),
        type="string",
        payload=bytes([index]) * (20 + index),
        expire_at_ms=None,
        idle_seconds=100 + index,
        freq=None,
        size_bytes=64,
        source=SOURCE,
        run_id="run1",
        archived_at=1_800_000_000.0 + index,
    )


RECORDS = [record(index) for index in range(3)]


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[int]]:
    """The bytes of a 3-record file and the offset where each record's frame ends."""
    writer = ArchiveWriter(tmp_path_factory.mktemp("archive"), "run1", SOURCE, level=1)
    ends = []
    for item in RECORDS:
        writer.append(item)
        assert writer.path is not None
        ends.append(writer.path.stat().st_size)
    writer.close()
    assert writer.path is not None
    return writer.path.read_bytes(), ends


def read(tmp_path: Path, data: bytes) -> tuple[list[ArchiveRecord], ArchiveReader]:
    path = tmp_path / "x.rja"
    path.write_bytes(data)
    reader = ArchiveReader(path)
    return list(reader), reader


def frame_starts(data: bytes, ends: list[int]) -> list[int]:
    """Where each record's frame starts: after the magic and the header frame, then back to back."""
    (header_length,) = struct.unpack_from(">I", data, len(FILE_MAGIC) + 4)
    return [len(FILE_MAGIC) + 16 + header_length, *ends[:-1]]


def test_every_flipped_byte_is_damage_and_every_intact_record_survives(
    tmp_path: Path, small_archive: tuple[bytes, list[int]]
) -> None:
    data, ends = small_archive
    starts = frame_starts(data, ends)
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        records, reader = read(tmp_path, bytes(damaged))
        hit = next((i for i, start in enumerate(starts) if start <= position < ends[i]), None)
        assert records == [item for i, item in enumerate(RECORDS) if i != hit], position
        assert reader.torn_tail is False, position
        assert reader.damaged_regions >= 1, position
        if hit is not None:
            assert f"at byte {starts[hit]}" in (reader.damage or ""), position


def test_every_truncation_is_a_torn_tail_and_keeps_the_records_before_it(
    tmp_path: Path, small_archive: tuple[bytes, list[int]]
) -> None:
    data, ends = small_archive
    boundaries = {len(FILE_MAGIC), frame_starts(data, ends)[0], *ends}
    for cut in range(len(data)):
        records, reader = read(tmp_path, data[:cut])
        whole = [item for item, end in zip(RECORDS, ends, strict=True) if end <= cut]
        assert records == whole, cut
        assert reader.damaged_regions == 0, (cut, reader.damage)
        assert reader.torn_tail is (cut not in boundaries), cut


def _v1_frame(meta: dict[str, object], payload: bytes) -> bytes:
    meta_bytes = json.dumps(meta).encode()
    body = zlib.compress(struct.pack(">I", len(meta_bytes)) + meta_bytes + payload)
    return struct.pack(">4sII", b"RJR1", len(body), zlib.crc32(body)) + body


def test_version_1_files_are_still_read_and_resynchronised(tmp_path: Path) -> None:
    header = {"kind": "header", "format": "redis-janitor-archive", "version": 1}
    frames = [_v1_frame(item.metadata(), item.payload) for item in RECORDS]
    data = bytearray(b"RJARCHV1\n" + _v1_frame(header, b"") + b"".join(frames))
    records, reader = read(tmp_path, bytes(data))
    assert records == RECORDS
    assert reader.version == 1 and reader.header["version"] == 1
    second = data.index(frames[1])
    data[second + 4] ^= 0x80  # the length's high byte: points past the end of the file
    records, reader = read(tmp_path, bytes(data))
    assert records == [RECORDS[0], RECORDS[2]]
    assert reader.torn_tail is False
    assert f"at byte {second}" in (reader.damage or "")


def test_a_writer_that_wrote_no_record_leaves_no_file(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path / "archive", "run1", SOURCE)
    writer.close()
    assert writer.path is None
    assert not (tmp_path / "archive").exists() or list((tmp_path / "archive").iterdir()) == []
