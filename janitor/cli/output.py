"""Where results go: one JSON document on stdout, or text for people; errors on stderr."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from rich.console import Console

from janitor.app.report import SCHEMA_VERSION
from janitor.core.errors import JanitorError
from janitor.core.logs import redact

Renderer = Callable[[Mapping[str, Any], Console], None]


def stdout_console(stream: TextIO | None = None) -> Console:
    """A console on stdout: colours on a terminal, plain and wide in pipes and files."""
    stream = stream or sys.stdout
    if stream.isatty():
        return Console(file=stream, emoji=False)
    return Console(
        file=stream,
        width=max(160, shutil.get_terminal_size().columns),
        no_color=True,
        emoji=False,
    )


def emit(document: Mapping[str, Any], fmt: str, renderer: Renderer) -> None:
    """Print ``document`` as JSON (``fmt == "json"``) or through ``renderer`` as text."""
    if fmt == "json":
        sys.stdout.write(redact(json.dumps(document, indent=2, ensure_ascii=False)) + "\n")
        sys.stdout.flush()
    else:
        renderer(document, stdout_console())


def error_document(error: JanitorError) -> dict[str, Any]:
    """The JSON document printed on stdout instead of a result when ``--format json`` failed."""
    return {
        "schema_version": SCHEMA_VERSION,
        "error": {
            "exit_code": int(error.exit_code),
            "kind": type(error).__name__,
            "message": redact(error.message),
            "hint": redact(error.hint) if error.hint else None,
        },
    }


def print_error(error: JanitorError, fmt: str | None) -> None:
    """Tell the operator what went wrong: one message (and a hint) on stderr, JSON on stdout."""
    sys.stderr.write(f"redis-janitor: {redact(error.message)}\n")
    if error.hint:
        sys.stderr.write(f"  hint: {redact(error.hint)}\n")
    if fmt == "json":
        sys.stdout.write(json.dumps(error_document(error), indent=2) + "\n")
