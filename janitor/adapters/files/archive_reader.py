"""Reading archive files, re-synchronising on the next whole frame after damage.

A crash can only tear the last frame (each append is fsynced before the key is deleted), so
a file that ends inside a frame — and has no whole frame after that point — has a *torn tail*:
the records before it are all there. Anything else that does not check out (a bad magic, a
frame header or body whose CRC fails, a payload whose SHA-256 differs) is *damage*: it is
reported with its byte offset, and the reader scans forward for the next frame whose header
and body CRCs hold, so every intact record after the damage is still read. Version-1 files
(no header CRC) are read the same way; there a damaged length in the very last frame cannot
be told from a torn tail.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from janitor.adapters.files.archive_format import (
    FILE_MAGIC,
    FILE_MAGIC_V1,
    FRAME_HEADER,
    FRAME_HEADER_V1,
    FRAME_MAGIC,
    FRAME_MAGIC_V1,
    ArchiveRecord,
    FrameError,
    decode_body,
    record_from,
)
from janitor.core.errors import ExitCode, JanitorError


class ArchiveError(JanitorError):
    """The archive directory or a file cannot be used safely (fix the path or its mode)."""

    exit_code = ExitCode.CONFIG


@dataclass(frozen=True)
class _Layout:
    """What differs between format versions: the frame magic and header."""

    frame_magic: bytes
    header: struct.Struct
    head_crc: bool


_V2 = _Layout(FRAME_MAGIC, FRAME_HEADER, True)
_V1 = _Layout(FRAME_MAGIC_V1, FRAME_HEADER_V1, False)


@dataclass(frozen=True)
class _Frame:
    """One parsed frame: ``end`` is where the next one starts."""

    meta: dict[str, Any]
    payload: bytes
    end: int


class _BadFrameError(Exception):
    """A frame that does not check out at an offset; ``torn`` when it is cut by the file end."""

    def __init__(self, reason: str, torn: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.torn = torn


class ArchiveReader:
    """Iterates the intact records of one archive file, skipping damaged stretches.

    After iterating: ``damage`` describes every problem with its byte offset (None: the file is
    whole); ``torn_tail`` is True when the only problem is a torn last frame (a crash while
    writing); ``damaged_regions`` counts the problems that are not a torn tail.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: dict[str, Any] = {}
        self.records_read = 0
        self.version: int | None = None
        self._problems: list[str] = []
        self._tail: str | None = None

    @property
    def damage(self) -> str | None:
        """Every problem found, ``; ``-separated, each with its byte offset."""
        parts = self._problems + ([self._tail] if self._tail else [])
        return "; ".join(parts) or None

    @property
    def torn_tail(self) -> bool:
        """True when the file's only problem is a torn last frame."""
        return self._tail is not None and not self._problems

    @property
    def damaged_regions(self) -> int:
        """How many damaged stretches (a torn tail is not one)."""
        return len(self._problems)

    def __iter__(self) -> Iterator[ArchiveRecord]:
        try:
            with self.path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size == 0:
                    self._tail = "empty file (not a redis-janitor archive yet) at byte 0"
                    return
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    yield from self._records(data, size)
        except OSError as error:
            raise ArchiveError(f"cannot read archive {self.path}: {error.strerror}") from None

    def _records(self, data: mmap.mmap, size: int) -> Iterator[ArchiveRecord]:
        magic = data[: len(FILE_MAGIC)]
        layout = _V1 if magic == FILE_MAGIC_V1 else _V2
        self.version = 1 if layout is _V1 else 2
        position = len(FILE_MAGIC)
        if magic not in (FILE_MAGIC, FILE_MAGIC_V1):
            if size < len(FILE_MAGIC) and FILE_MAGIC.startswith(magic):
                self._tail = "not a redis-janitor archive (torn) at byte 0"
                return
            position = self._resync(data, size, _V2, 0)
            if position < 0:
                layout, self.version = _V1, 1
                position = self._resync(data, size, _V1, 0)
            if position < 0:
                self._problems.append("not a redis-janitor archive at byte 0")
                return
            self._problems.append("bad file magic at byte 0")
        while position < size:
            try:
                frame = self._frame(data, size, layout, position)
            except _BadFrameError as bad:
                after = self._resync(data, size, layout, position + 1)
                if after < 0 and bad.torn:
                    self._tail = f"{bad.reason} (torn last record) at byte {position}"
                    return
                self._problems.append(f"{bad.reason} at byte {position}")
                if after < 0:
                    return
                position = after
                continue
            position = frame.end
            if frame.meta.get("kind") == "header":
                self.header = frame.meta
            elif frame.meta.get("kind") == "key":
                self.records_read += 1
                yield record_from(frame.meta, frame.payload)

    def _frame(self, data: mmap.mmap, size: int, layout: _Layout, position: int) -> _Frame:
        """Parse the frame at ``position`` or raise _BadFrameError."""
        head = data[position : position + layout.header.size]
        if len(head) < layout.header.size:
            torn = layout.frame_magic.startswith(head[: len(layout.frame_magic)])
            raise _BadFrameError("incomplete frame header", torn=torn)
        fields = layout.header.unpack(head)
        if fields[0] != layout.frame_magic:
            raise _BadFrameError("bad frame magic", torn=False)
        length, crc = fields[1], fields[2]
        if layout.head_crc and zlib.crc32(head[:12]) != fields[3]:
            raise _BadFrameError("corrupt frame header", torn=False)
        start = position + layout.header.size
        if start + length > size:
            raise _BadFrameError("incomplete frame", torn=True)
        body = data[start : start + length]
        if zlib.crc32(body) != crc:
            raise _BadFrameError("corrupt frame (CRC mismatch)", torn=False)
        try:
            meta, payload = decode_body(body)
        except FrameError as error:
            raise _BadFrameError(str(error), torn=False) from None
        return _Frame(meta, payload, start + length)

    def _resync(self, data: mmap.mmap, size: int, layout: _Layout, start: int) -> int:
        """Offset of the next whole frame at or after ``start``, or -1."""
        position = data.find(layout.frame_magic, start)
        while position >= 0:
            try:
                self._frame(data, size, layout, position)
            except _BadFrameError:
                position = data.find(layout.frame_magic, position + 1)
                continue
            return position
        return -1


def archive_files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the archive files in the directory, oldest first."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(child for child in path.iterdir() if child.suffix == ".rja")
    raise ArchiveError(f"no archive file or directory at {path}")
