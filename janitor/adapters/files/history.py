"""The history file: JSON lines in the state directory, bounded, safe for concurrent writers.

Writers take an exclusive flock on a sibling ``.lock`` file, append whole lines with one
``write`` on an O_APPEND descriptor, and when the file outgrows ``max_bytes`` rewrite it
atomically without its oldest lines (down to three quarters of the cap). A writer killed in the
middle of a line leaves a torn tail: the next writer starts on a fresh line, and readers skip
(and count) every line that is not a sample — reading never fails because of one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from janitor.adapters.files.durable import replace_atomically
from janitor.domain.history import Sample, SampleError, decode, encode

KEEP_FRACTION = 0.75
FILE_MODE = 0o600


@dataclass
class HistoryRead:
    """The samples read, and what was skipped (torn or damaged lines) and why."""

    samples: list[Sample] = field(default_factory=list)
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    torn_tail: bool = False


class HistoryFile:
    """One history file (``path``), at most about ``max_bytes`` long."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.lock_path = path.with_name(path.name + ".lock")

    def append(self, samples: Iterable[Sample]) -> None:
        """Append ``samples`` (one line each) under the lock; trim the oldest when over the cap."""
        data = b"".join(encode(sample) for sample in samples)
        if not data:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._locked():
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            descriptor = os.open(self.path, flags, FILE_MODE)
            try:
                if not _ends_with_newline(descriptor):
                    data = b"\n" + data  # a torn last line stays one bad line, not two
                os.write(descriptor, data)
                size = os.fstat(descriptor).st_size
            finally:
                os.close(descriptor)
            if size > self.max_bytes:
                self._trim()

    def read(self, since: float | None = None) -> HistoryRead:
        """Every sample (at or after ``since`` when given), oldest first as written."""
        result = HistoryRead()
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            return result
        result.torn_tail = bool(content) and not content.endswith(b"\n")
        for number, line in _numbered_lines(content):
            try:
                sample = decode(line)
            except SampleError as error:
                result.skipped += 1
                where = "last line (torn write)" if number == -1 else f"line {number}"
                result.problems.append(f"{self.path}: {where} skipped: {error}")
                continue
            if since is None or sample.ts >= since:
                result.samples.append(sample)
        return result

    def _trim(self) -> None:
        """Keep the newest whole lines that fit in ``KEEP_FRACTION`` of the cap (lock held)."""
        content = self.path.read_bytes()
        budget = int(self.max_bytes * KEEP_FRACTION)
        lines = content.splitlines(keepends=True)
        kept: list[bytes] = []
        total = 0
        for line in reversed(lines):
            if not line.endswith(b"\n"):
                continue  # a torn tail is dropped when the file is rewritten
            if total + len(line) > budget:
                break
            kept.append(line)
            total += len(line)
        replace_atomically(self.path, b"".join(reversed(kept)), FILE_MODE)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


def _ends_with_newline(descriptor: int) -> bool:
    size = os.fstat(descriptor).st_size
    return size == 0 or os.pread(descriptor, 1, size - 1) == b"\n"


def _numbered_lines(content: bytes) -> Iterator[tuple[int, bytes]]:
    """Non-empty lines with their 1-based number; a last line without newline is number -1."""
    lines = content.split(b"\n")
    last = len(lines) - 1
    for index, line in enumerate(lines):
        if line.strip():
            yield (-1 if index == last else index + 1), line
