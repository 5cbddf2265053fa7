"""Run the installed command on a pseudo-terminal of a given width, as an operator would."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from collections.abc import Mapping

from tests.conftest import CLI, clean_env

_ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_on_terminal(
    *args: str,
    columns: int = 80,
    answer: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, str]:
    """Run ``redis-janitor args`` with stdin, stdout and stderr on one pty ``columns`` wide;
    type ``answer`` (and Enter) for a prompt. Return the exit code and the screen text
    (escape sequences removed, CRLF as LF)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environment = clean_env({"COLUMNS": str(columns), "TERM": "xterm", **(env or {})})
    with subprocess.Popen(
        [CLI, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=environment
    ) as process:
        os.close(terminal)
        if answer is not None:
            os.write(controller, answer + b"\n")
        output = _read_all(controller)
        code = process.wait(timeout=timeout)
    os.close(controller)
    text = _ESCAPES.sub(b"", output).replace(b"\r\n", b"\n").decode(errors="replace")
    return code, text


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every copy of the terminal side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
