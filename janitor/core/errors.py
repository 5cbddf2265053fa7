"""Exit codes of the command-line contract and the errors that map onto them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (the contract is in docs/architecture.md)."""

    OK = 0
    WARN = 1
    CRITICAL = 2
    USAGE = 64
    UNAVAILABLE = 69
    LOCKED = 75
    NO_PERMISSION = 77
    CONFIG = 78


class JanitorError(Exception):
    """An expected failure with a clear message for the operator and an exit code.

    Raise subclasses of this for anything an operator can fix; the CLI prints the message
    (never a traceback) and exits with ``exit_code``.
    """

    exit_code: ExitCode = ExitCode.CRITICAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(JanitorError):
    """The configuration is invalid; ``problems`` holds ``field: reason`` lines."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class UsageError(JanitorError):
    """The command line is wrong (exit 64)."""

    exit_code = ExitCode.USAGE


class RedisUnavailableError(JanitorError):
    """Redis could not be reached (exit 69)."""

    exit_code = ExitCode.UNAVAILABLE


class RedisPermissionError(JanitorError):
    """Redis refused a command: ACL NOPERM, bad credentials or a disabled command (exit 77)."""

    exit_code = ExitCode.NO_PERMISSION


class LockHeldError(JanitorError):
    """Another run holds the lock for this instance (exit 75)."""

    exit_code = ExitCode.LOCKED


class WritesRefusedError(JanitorError):
    """Redis refuses writes with ``-MISCONF``: its last background save failed (exit 2).

    Redis is up; it stops accepting writes (and PING) until a save succeeds. See ``rescue``.
    """

    exit_code = ExitCode.CRITICAL
