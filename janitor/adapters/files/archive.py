"""Writing archive files: the durable copy of every archived key, made before the key is deleted.

The format is in :mod:`janitor.adapters.files.archive_format`, reading in
:mod:`janitor.adapters.files.archive_reader` (both re-exported here). Each frame is written,
flushed and fsynced before :meth:`ArchiveWriter.append` returns (the directory is fsynced once
the file exists), so a crash can only tear the frame being written. The file is created on the
first record, and a file that ends up holding no record (the first write failed, a full disk)
is removed again: no empty archive is left behind. Files are 0600 in a 0700 directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from pathlib import Path

from janitor.adapters.files.archive_format import (
    FILE_MAGIC,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAME_MAGIC,
    FRAMING,
    SUFFIX,
    ArchiveRecord,
    encode_frame,
)
from janitor.adapters.files.archive_reader import ArchiveError, ArchiveReader, archive_files
from janitor.adapters.files.durable import fsync_directory

__all__ = [
    "FILE_MAGIC",
    "FRAME_MAGIC",
    "ArchiveError",
    "ArchiveReader",
    "ArchiveRecord",
    "ArchiveWriter",
    "archive_files",
    "encode_frame",
    "ensure_private_dir",
]


def ensure_private_dir(directory: Path) -> Path:
    """Create ``directory`` as 0700 if needed; refuse one that others can read or enter."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError as error:
        raise ArchiveError(f"archive dir {directory}: {error.strerror}") from None
    if mode & 0o077:
        raise ArchiveError(
            f"archive dir {directory} has mode {mode:04o}; archives hold your data",
            hint=f"chmod 700 {directory}",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ArchiveError(f"archive dir {directory} is not writable by this user")
    return directory


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "redis"


class ArchiveWriter:
    """Appends records to one new archive file; every append is durable when it returns.

    A failed append (disk full, I/O error) cuts the file back to its last whole record, so
    later records stay readable; if even that fails, every further append is refused.
    """

    def __init__(self, directory: Path, run_id: str, source: str, level: int = 6) -> None:
        self.directory = directory
        self.run_id = run_id
        self.source = source
        self.level = level
        self.path: Path | None = None
        self.records_written = 0
        self._descriptor: int | None = None
        self._good_size = 0
        self._broken = False

    def _create(self) -> int:
        ensure_private_dir(self.directory)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        base = f"{stamp}-{self.run_id}-{_slug(self.source)}"
        for attempt in range(100):
            self.path = self.directory / f"{base}{f'-{attempt}' if attempt else ''}{SUFFIX}"
            try:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            except OSError as error:
                raise ArchiveError(f"cannot create {self.path}: {error.strerror}") from None
            os.fchmod(descriptor, 0o600)
            return descriptor
        raise ArchiveError(f"cannot find a free archive file name in {self.directory}")

    def _start(self) -> None:
        """Create the file if needed and write its header if it is not on disk yet."""
        if self._descriptor is None:
            self._descriptor = self._create()
        if self._good_size:
            return
        header = {
            "kind": "header",
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "framing": FRAMING,
            "compression": "zlib",
            "run_id": self.run_id,
            "source": self.source,
            "created_at": time.time(),
        }
        self._write(FILE_MAGIC + encode_frame(header, b"", self.level))
        fsync_directory(self.directory)

    def _write(self, data: bytes) -> None:
        """Write all of ``data`` and fsync; on failure cut back to the last whole record."""
        assert self._descriptor is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._descriptor, view) :]
            os.fsync(self._descriptor)
        except OSError:
            try:
                os.ftruncate(self._descriptor, self._good_size)
                os.lseek(self._descriptor, self._good_size, os.SEEK_SET)
                os.fsync(self._descriptor)
            except OSError:
                self._broken = True
            raise
        self._good_size += len(data)

    def append(self, record: ArchiveRecord) -> None:
        """Write ``record`` and fsync it; when this returns the record survives a crash."""
        if self._broken:
            raise OSError(errno.EIO, "archive file unusable after a failed write")
        self._start()
        self._write(encode_frame(record.metadata(), record.payload, self.level))
        self.records_written += 1

    def close(self) -> None:
        """Close the file (every record is already durable); remove it when it holds none."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
            if self.records_written == 0 and self.path is not None:
                with contextlib.suppress(OSError):
                    self.path.unlink()
                    fsync_directory(self.directory)
                self.path = None
