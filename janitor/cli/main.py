"""Console-script entry point: the command run (its module imported on demand, see
``janitor.cli.group.LazyGroup``), failures mapped onto exit codes.

Under ``--format json`` every failure, click's usage errors included, prints exactly one JSON
document ``{"error": {"code", "message", ...}, "exit_code"}`` on stdout; the message also goes
to stderr. A closed stdout (``report | head -1``) ends quietly with 141, as SIGPIPE would.
"""

from __future__ import annotations

import os
import sys

import click
import redis

from janitor.adapters.redis.connection import translate_redis_error
from janitor.cli.group import cli, requested_format
from janitor.cli.output import StdoutClosed, failure_document, print_error, print_failure
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.logs import configure_logging, get_logger

log = get_logger(__name__)
BROKEN_PIPE_EXIT = 141
"""128 + SIGPIPE: what a shell reports for a command whose reader went away."""


def format_in_argv(argv: list[str]) -> str:
    """The ``--format`` asked for on the command line, found even when click cannot parse it."""
    fmt = "text"
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--format" and index + 1 < len(argv):
            fmt = argv[index + 1]
        elif arg.startswith("--format="):
            fmt = arg.partition("=")[2]
    return fmt


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map failures onto the exit-code contract."""
    args = list(sys.argv[1:] if argv is None else argv)
    configure_logging()  # until the settings are loaded: info and up, to stderr
    try:
        code = _run(args)
        sys.stdout.flush()
    except (BrokenPipeError, StdoutClosed):
        _quiet_broken_pipe()
    sys.exit(code)


def _run(args: list[str]) -> int:
    """Run one command; return its exit code, having printed any failure."""

    def fmt() -> str:
        return "json" if "json" in (format_in_argv(args), requested_format()) else "text"

    try:
        result = cli.main(args=args, prog_name="redis-janitor", standalone_mode=False)
    except StdoutClosed:
        raise
    except click.exceptions.UsageError as error:
        if fmt() == "json":
            message = error.format_message()
            print_failure(failure_document("usage", message, ExitCode.USAGE), "json")
        else:
            error.show()
        return ExitCode.USAGE
    except click.exceptions.Abort:
        document = failure_document("aborted", "aborted", ExitCode.CRITICAL)
        print_failure(document, fmt())
        return ExitCode.CRITICAL
    except click.ClickException as error:
        print_failure(failure_document("usage", error.format_message(), ExitCode.USAGE), fmt())
        return ExitCode.USAGE
    except JanitorError as error:
        print_error(error, fmt())  # once, with a journald priority (cli/journal_lines.py)
        log.debug("command.failed", exit_code=int(error.exit_code), error=error.message)
        return int(error.exit_code)
    except redis.RedisError as error:  # one that no use case translated: still say it clearly
        translated = translate_redis_error(error, "the configured Redis")
        if not isinstance(translated, JanitorError):
            log.exception("command.crashed")
            translated = JanitorError(f"Redis answered with an error: {error}")
        print_error(translated, fmt())
        return int(translated.exit_code)
    except KeyboardInterrupt:
        print_failure(failure_document("interrupted", "interrupted", 130), fmt())
        return 130
    except Exception:
        log.exception("command.crashed")
        message = "internal error (details in the log on stderr)"
        print_failure(failure_document("internal", message, ExitCode.CRITICAL), fmt())
        return ExitCode.CRITICAL
    return int(result) if isinstance(result, int) else 0


def _quiet_broken_pipe() -> None:
    """The reader of stdout went away: end without a traceback or a flush error at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(BROKEN_PIPE_EXIT)
