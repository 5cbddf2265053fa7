"""The ``redis-janitor`` click group and what every command shares: options, settings, run id.

The command-line contract (commands, exit codes) is described in docs/architecture.md.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import click
import structlog

from janitor import __version__
from janitor.adapters.redis.connection import PASSWORD_SOURCES
from janitor.app.context import AppContext
from janitor.config.settings import load_settings
from janitor.core.logs import configure_logging, get_logger, new_run_id

log = get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_requested_format: dict[str, str] = {"format": "text"}
_FORMAT_HELP = {
    ("text", "json", "html", "csv"): " html: one self-contained page; csv: top keys and plan.",
    ("text", "json", "csv"): " csv: one row per sample.",
}
_credentials: dict[str, Any] = {}
"""``--username`` / ``--password-file`` of the command being run (kept aside so that every
command's signature stays the four common options)."""


def _remember_format(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Note ``--format`` as soon as it is parsed, so even early errors come out as JSON."""
    _requested_format["format"] = value
    return value


_topology_flags: dict[str, Any] = {}


def _remember_topology(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep ``--nodes``/``--discover`` for ``prepare`` (commands do not take them as arguments)."""
    if param.name is not None:
        _topology_flags[param.name] = value
    return value


def common_options(command: F) -> F:
    """Add ``--config``, ``--url`` (repeatable), ``--nodes``, ``--discover``, ``--format``,
    ``--log-level``, ``--username`` and ``--password-file``."""
    return with_common_options(("text", "json"))(command)


def with_common_options(formats: Sequence[str]) -> Callable[[F], F]:
    """``common_options`` with ``--format`` taking one of ``formats`` (the first is the default)."""

    def decorate(command: F) -> F:
        return _add_common_options(command, formats)

    return decorate


def _add_common_options(command: F, formats: Sequence[str]) -> F:
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path, dir_okay=False),
            help="TOML file [default: $JANITOR_CONFIG or /etc/redis-janitor/janitor.toml].",
        ),
        click.option(
            "--url",
            "urls",
            multiple=True,
            help="redis://, rediss://, unix:// or redis+sentinel:// URL; repeatable.",
        ),
        click.option(
            "--nodes",
            type=click.Choice(["local", "this", "all"]),
            expose_value=False,
            callback=_remember_topology,
            help="Redis Cluster: nodes on this host, the URL's node, or all [redis.nodes].",
        ),
        click.option(
            "--discover",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_remember_topology,
            help="Also every redis-server/valkey-server on this host [redis.discover].",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(list(formats)),
            default=formats[0],
            show_default=True,
            help="json: one JSON document on stdout." + _FORMAT_HELP.get(tuple(formats), ""),
            callback=_remember_format,
        ),
        click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error"]),
            help="Log level (logs go to stderr).",
        ),
        click.option("--username", help="ACL user name [redis.username]."),
        click.option(
            "--password-file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="File whose first line is the Redis password (mode 0600 or stricter); "
            "or set $JANITOR_REDIS__PASSWORD.",
        ),
    ]

    @functools.wraps(command)
    def with_credentials(*args: Any, **kwargs: Any) -> Any:
        _credentials["username"] = kwargs.pop("username")
        _credentials["password_file"] = kwargs.pop("password_file")
        return command(*args, **kwargs)

    wrapped: Any = with_credentials
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return cast(F, wrapped)


def prepare(
    config_path: Path | None,
    urls: tuple[str, ...],
    fmt: str,
    log_level: str | None,
    overrides: dict[str, Any] | None = None,
) -> AppContext:
    """Load settings (CLI flags on top), configure logging and bind a fresh run id."""
    _requested_format["format"] = fmt
    configure_logging()
    layered: dict[str, Any] = dict(overrides or {})
    layered.setdefault("redis", {})["urls"] = list(urls) or None
    layered["redis"].update(_credentials)
    layered["redis"]["nodes"] = _topology_flags.pop("nodes", None)
    layered["redis"]["discover"] = _topology_flags.pop("discover", None)
    layered.setdefault("logging", {})["level"] = log_level
    settings = load_settings(config_path, layered)
    configure_logging(settings.logging.level, settings.logging.format)
    warn_password_in_urls(urls)
    run_id = new_run_id()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    return AppContext(settings=settings, run_id=run_id, fmt=fmt)


COMMAND_MODULES = {
    "config": "janitor.cli.inspect",
    "headroom": "janitor.cli.inspect",
    "history": "janitor.cli.history",
    "report": "janitor.cli.inspect",
    "rescue": "janitor.cli.rescue",
    "restore": "janitor.cli.run",
    "run": "janitor.cli.run",
    "serve": "janitor.cli.serve",
}
"""Which module defines (and, once imported, registers) each command."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is asked for.

    A start-up imports what the one command needs: ``run`` skips the scheduler, the HTML and
    SVG renderers and the history view (about a tenth of the start-up, which a scheduled run
    pays every time). ``--help`` lists, and so imports, them all.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, registered or not yet imported."""
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module first if it was not registered yet."""
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(COMMAND_MODULES[cmd_name])
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="redis-janitor")
def cli() -> None:
    """Keep Redis able to BGSAVE: measure fork headroom, find and clean stale big keys."""


def warn_password_in_urls(urls: tuple[str, ...]) -> None:
    """Warn (once per process) when a ``--url`` carries a password: ``ps`` shows it."""
    if _warned or not any(urlsplit(url).password for url in urls):
        return
    _warned.append(True)
    log.warning(
        "password.in_command_line",
        message="a password inside --url is visible to other users of this host (ps, "
        "/proc/PID/cmdline) for the whole run",
        hint=f"use {PASSWORD_SOURCES} instead",
    )


_warned: list[bool] = []


def requested_format() -> str:
    """The ``--format`` of the command being run, as soon as it was parsed (else text)."""
    return _requested_format["format"]
