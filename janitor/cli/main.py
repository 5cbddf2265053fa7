"""Console-script entry point: every command registered, failures mapped onto exit codes."""

from __future__ import annotations

import sys

import click

import janitor.cli.history
import janitor.cli.inspect
import janitor.cli.rescue
import janitor.cli.run
import janitor.cli.serve  # noqa: F401  (importing a command module registers its commands)
from janitor.cli.group import cli, requested_format
from janitor.cli.journal_lines import ERROR, WARNING, plain_line
from janitor.cli.output import print_error
from janitor.core.errors import ExitCode, JanitorError
from janitor.core.logs import configure_logging, get_logger

log = get_logger(__name__)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map failures onto the exit-code contract."""
    configure_logging()  # until the settings are loaded: info and up, to stderr
    try:
        result = cli.main(args=argv, prog_name="redis-janitor", standalone_mode=False)
    except click.exceptions.UsageError as error:
        error.show()
        sys.exit(ExitCode.USAGE)
    except click.exceptions.Abort:
        plain_line("redis-janitor: aborted", WARNING)
        sys.exit(ExitCode.CRITICAL)
    except JanitorError as error:
        print_error(error, requested_format())
        log.debug("command.failed", exit_code=int(error.exit_code), error=error.message)
        sys.exit(int(error.exit_code))
    except KeyboardInterrupt:
        plain_line("redis-janitor: interrupted", WARNING)
        sys.exit(130)
    except Exception:
        log.exception("command.crashed")
        plain_line("redis-janitor: internal error (details in the log above)", ERROR)
        sys.exit(ExitCode.CRITICAL)
    sys.exit(int(result) if isinstance(result, int) else 0)
