"""Where results go: one JSON document on stdout, or text for people; errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from rich.console import Console

from janitor.app.report import SCHEMA_VERSION
from janitor.cli.journal_lines import ERROR, WARNING, one_line, plain_line, write_failure
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.logs import redact, writes_to_journal

Renderer = Callable[[Mapping[str, Any], Console], None]


NO_WRAP_WIDTH = 100_000
"""Width given to a console writing to a file or pipe: lines are never hard-wrapped there."""


class StdoutClosed(Exception):  # noqa: N818  (a condition, not an error of the program)
    """The reader of stdout went away (``report | head -1``); not an OSError, so click lets it
    through to the entry point, which ends quietly."""


class _Console(Console):
    """A rich console whose closed pipe is reported as StdoutClosed (rich exits 1 itself)."""

    def on_broken_pipe(self) -> None:
        """Leave ending the process to the entry point."""
        self.quiet = True
        raise StdoutClosed


def stdout_console(stream: TextIO | None = None) -> Console:
    """A console on stdout: colours and the terminal's width on a terminal; plain and never
    hard-wrapped in pipes and files."""
    stream = stream or sys.stdout
    if stream.isatty():
        return _Console(file=stream, emoji=False)
    return _Console(file=stream, width=NO_WRAP_WIDTH, no_color=True, soft_wrap=True, emoji=False)


def emit(document: Mapping[str, Any], fmt: str, renderer: Renderer) -> None:
    """Print ``document`` as JSON (``fmt == "json"``) or through ``renderer`` as text."""
    try:
        if fmt == "json":
            sys.stdout.write(redact(json.dumps(document, indent=2, ensure_ascii=False)) + "\n")
        else:
            renderer(document, stdout_console())
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutClosed from None


ERROR_CODES = {
    ExitCode.USAGE: "usage",
    ExitCode.UNAVAILABLE: "unavailable",
    ExitCode.LOCKED: "locked",
    ExitCode.NO_PERMISSION: "no_permission",
    ExitCode.CONFIG: "config",
    ExitCode.CRITICAL: "critical",
    ExitCode.WARN: "warn",
}


def failure_document(
    code: str, message: str, exit_code: int, hint: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    """The one JSON document printed on stdout instead of a result when a command failed."""
    return {
        "schema_version": SCHEMA_VERSION,
        "error": {
            "code": code,
            "message": redact(message),
            "hint": redact(hint) if hint else None,
            "kind": kind or code,
            "exit_code": exit_code,
        },
        "exit_code": exit_code,
    }


def error_document(error: JanitorError) -> dict[str, Any]:
    """The JSON failure document of a JanitorError (``error.code`` names its exit code)."""
    code = ERROR_CODES.get(ExitCode(int(error.exit_code)), "error")
    return failure_document(
        code, error.message, int(error.exit_code), error.hint, type(error).__name__
    )


def print_failure(document: Mapping[str, Any], fmt: str | None) -> None:
    """Tell the operator what went wrong when there is no JanitorError (usage, abort, crash):
    message (and hint) on stderr as one line, with a journald priority; the JSON on stdout."""
    error = document["error"]
    if writes_to_journal(sys.stderr):
        hint = f" (hint: {error['hint']})" if error["hint"] else ""
        priority = WARNING if error["exit_code"] in (ExitCode.USAGE, 130) else ERROR
        plain_line(one_line(f"redis-janitor: {error['message']}{hint}"), priority)
    else:
        sys.stderr.write(f"redis-janitor: {error['message']}\n")
        if error["hint"]:
            sys.stderr.write(f"  hint: {error['hint']}\n")
    _print_document(document, fmt)


def _print_document(document: Mapping[str, Any], fmt: str | None) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def print_error(error: JanitorError, fmt: str | None) -> None:
    """Tell the operator what went wrong: one message (and a hint) on stderr, JSON on stdout."""
    write_failure(error)
    _print_document(error_document(error), fmt)
