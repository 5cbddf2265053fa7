"""A full or read-only archive disk: one top-level error, the keys kept, no empty archive file."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e
Run = Callable[..., CliResult]
DAY = 86400
KEYS = 8
VALUE_BYTES = 20_000


def _mount_tmpfs(mountpoint: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (this test runs as a normal user)")
    mountpoint.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: room for about three 20 KB incompressible records."""
    mountpoint = tmp_path / "disk"
    _mount_tmpfs(mountpoint, "64k")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def plant_incompressible(server: RedisServer) -> None:
    client = server.client()
    for index in range(KEYS):
        client.set(b"scratch", os.urandom(VALUE_BYTES))
        payload = client.dump(b"scratch")
        client.delete(b"scratch")
        client.restore(f"cache:{index}", 0, payload, idletime=40 * DAY)


def run_archive(run_cli: Run, server: RedisServer, archive: Path, fmt: str) -> CliResult:
    return run_cli(
        "run", "--url", server.url, "--match", "cache:*", "--min-idle", "30d",
        "--action", "archive", "--archive-dir", str(archive), "--yes", "--format", fmt,
    )  # fmt: skip


def test_a_full_archive_disk_is_one_top_level_error_and_keeps_the_rest(
    redis_server: RedisServer, run_cli: Run, small_disk: Path
) -> None:
    plant_incompressible(redis_server)
    archive = small_disk / "archive"
    result = run_archive(run_cli, redis_server, archive, "json")
    assert result.exit_code == 2, result.stderr
    document = result.json()
    done = [a for a in document["actions"] if a["result"] == "done"]
    kept = KEYS - len(done)
    assert 0 < len(done) < KEYS
    (error,) = document["errors"]
    assert error["message"].startswith(f"archive {archive}")
    assert error["message"].endswith(
        f"could not be written: No space left on device; {kept} keys were not deleted"
    )
    assert redis_server.client().dbsize() == kept
    files = list(archive.iterdir())
    assert len(files) == 1 and files[0].stat().st_size > 0
    text = run_archive(run_cli, redis_server, archive, "text")
    assert text.exit_code == 2
    said = " ".join(text.stdout.split())
    assert f"could not be written: No space left on device; {kept} keys were not deleted" in said
    assert list(archive.iterdir()) == files, "a run that archived nothing left a file"
    assert redis_server.client().dbsize() == kept


def test_a_read_only_archive_dir_stops_before_any_action(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    plant_incompressible(redis_server)
    archive = tmp_path / "archive"
    archive.mkdir(mode=0o700)
    if os.geteuid() == 0:
        mountpoint = tmp_path / "ro"
        _mount_tmpfs(mountpoint, "1m")
        (mountpoint / "archive").mkdir(mode=0o700)
        subprocess.run(["mount", "-o", "remount,ro", str(mountpoint)], check=True)
        archive = mountpoint / "archive"
    else:
        archive.chmod(0o500)
    try:
        result = run_archive(run_cli, redis_server, archive, "json")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(archive.parent)], check=False)
    assert result.exit_code == 78, result.stderr
    assert f"archive dir {archive} is not writable" in result.stderr
    assert redis_server.client().dbsize() == KEYS
