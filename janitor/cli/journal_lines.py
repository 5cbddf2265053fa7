"""Plain-text failure lines on stderr, each failure once, with a journald priority when needed.

When stderr is journald's stream (``$JOURNAL_STREAM`` names its dev:ino) a line without a
``<N>`` prefix is stored at the unit's default priority (6, info), so ``journalctl -p warning``
would miss it. There every plain line gets ``<3>`` (error) or ``<4>`` (warning), a hint goes on
the same line, and a failure already recorded (by a structured ``instance.failed`` event or an
earlier line) is not written again. On a terminal or in a pipe nothing changes.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from janitor.core.errors import ExitCode, JanitorError
from janitor.core.logs import get_logger, redact, writes_to_journal

ERROR, WARNING = 3, 4
_REPORTED = "_janitor_failure_reported"
log = get_logger(__name__)


def priority_of(error: JanitorError) -> int:
    """Warning for a held lock (another run is busy: expected), error for everything else."""
    return WARNING if error.exit_code == ExitCode.LOCKED else ERROR


def already_reported(error: BaseException) -> bool:
    """True once a failure has reached stderr (as text or as an event)."""
    return bool(getattr(error, _REPORTED, False))


def mark_reported(error: BaseException) -> None:
    """Remember that ``error`` has been told, so it is not told again."""
    setattr(error, _REPORTED, True)


def one_line(text: str) -> str:
    """Join a multi-line message (``invalid configuration:`` and its problems) into one entry."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip()).replace(":;", ":")


def plain_line(text: str, priority: int, stream: TextIO | None = None) -> None:
    """Write one line of text to stderr, prefixed ``<priority>`` when stderr is the journal."""
    stream = stream or sys.stderr
    prefix = f"<{priority}>" if writes_to_journal(stream) else ""
    stream.write(f"{prefix}{text}\n")
    stream.flush()


def write_failure(error: JanitorError, stream: TextIO | None = None) -> None:
    """``redis-janitor: message`` (and the hint) on stderr, once per failure."""
    stream = stream or sys.stderr
    if writes_to_journal(stream):
        if already_reported(error):
            return
        hint = f" (hint: {redact(error.hint)})" if error.hint else ""
        text = one_line(f"redis-janitor: {redact(error.message)}{hint}")
        plain_line(text, priority_of(error), stream)
    else:
        stream.write(f"redis-janitor: {redact(error.message)}\n")
        if error.hint:
            stream.write(f"  hint: {redact(error.hint)}\n")
    mark_reported(error)


def instance_failed(error: JanitorError, stream: TextIO | None = None, **fields: Any) -> None:
    """One instance failed: under journald one structured event, else the text and the event."""
    stream = stream or sys.stderr
    if not writes_to_journal(stream):
        write_failure(error, stream)
    mark_reported(error)
    method = log.warning if priority_of(error) == WARNING else log.error
    hint = {"hint": redact(error.hint)} if error.hint else {}
    method("instance.failed", error=error.message, exit_code=int(error.exit_code), **hint, **fields)


def failure_noted(error: JanitorError, stream: TextIO | None = None) -> None:
    """A failure already logged as a structured event (a refused instance, ``instance.failed``):
    under journald that event is the record; elsewhere the operator also gets the text."""
    stream = stream or sys.stderr
    if writes_to_journal(stream):
        mark_reported(error)
    else:
        write_failure(error, stream)
