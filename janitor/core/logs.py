"""Structured logging: JSON lines on stderr when it is not a terminal, readable console otherwise.

Events are dotted facts (``scan.finished``) with ``run_id`` and ``instance`` bound through
``structlog.contextvars``. Tracebacks never carry frame locals, and every registered secret is
replaced by ``***`` in every string of every event, including rendered tracebacks.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

_secrets: set[str] = set()
_MASK = "***"
_SYSLOG_PRIORITY = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "info": 6, "debug": 7}


def register_secret(secret: str | None) -> None:
    """Make sure ``secret`` never appears in a log line."""
    if secret and len(secret) >= 1:
        _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask registered secrets anywhere in the event."""
    if not _secrets:
        return event_dict
    return {key: _redact_value(value) for key, value in event_dict.items()}


def new_run_id() -> str:
    """Return a short unique id for one run (bound to every event of that run)."""
    return uuid.uuid4().hex[:16]


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Route structlog and the standard library's logging to ``stream`` (stderr by default)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    exceptions: Processor = (
        structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        if use_json
        else structlog.processors.format_exc_info
    )
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    if writes_to_journal(stream):
        renderer = with_syslog_priority(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            exceptions,
            redact_secrets,
            _drop_logger_name_for_own_events,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "redis"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def writes_to_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal stream systemd named in ``$JOURNAL_STREAM`` (dev:ino)."""
    expected = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{status.st_dev}:{status.st_ino}"


def with_syslog_priority(renderer: Processor) -> Processor:
    """Wrap ``renderer`` so each line starts with ``<N>`` (journald reads it as the priority)."""

    def render(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        priority = _SYSLOG_PRIORITY.get(str(event_dict.get("level", "info")).lower(), 6)
        line = renderer(logger, method_name, event_dict)
        return f"<{priority}>" + (line.decode() if isinstance(line, bytes) else str(line))

    return render


def _drop_logger_name_for_own_events(
    _: WrappedLogger, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Keep ``logger`` only for third-party records; our dotted event names say enough."""
    if str(event_dict.get("logger", "")).startswith("janitor"):
        event_dict.pop("logger", None)
    return event_dict


def get_logger(name: str) -> Any:
    """Return a structlog logger for module ``name``."""
    return structlog.get_logger(name)
