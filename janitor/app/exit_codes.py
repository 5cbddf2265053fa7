"""Every command's exit code, decided in one place (the contract is in docs/architecture.md).

0 ok; 1 headroom still short (warn); 2 critical or failed; 64 usage; 69 Redis unreachable;
75 another run holds the lock; 77 permission denied by Redis; 78 bad configuration.
"""

from __future__ import annotations

from janitor.app.instance_pass import PassResult
from janitor.core.errors import ExitCode, JanitorError

Failures = list[tuple[str, JanitorError]]


def first_failure_or_ok(failures: Failures) -> int:
    """``report``: the first failed instance's code, else 0."""
    return int(failures[0][1].exit_code) if failures else ExitCode.OK


def instance_exit_code(result: PassResult) -> int:
    """The code of a failure after the actions (77 for a refused MEMORY PURGE, 69 when Redis went
    away...); else 2 when an action failed, 1 when headroom is still short afterwards, else 0."""
    if result.error is not None:
        return max(int(result.error.exit_code), ExitCode.CRITICAL)
    if result.count("failed") or result.errors:
        return ExitCode.CRITICAL
    if result.after.verdict != "ok" or result.after.need_to_free_bytes > 0:
        return ExitCode.WARN
    return ExitCode.OK


def run_exit_code(results: list[PassResult], failures: list[tuple[str, JanitorError]]) -> int:
    """2 when an instance or an action failed, 75 when the only failures are instances locked
    by another run, else 1 when headroom is still short, else 0."""
    if failures:
        locked = all(error.exit_code == ExitCode.LOCKED for _, error in failures)
        return ExitCode.LOCKED if locked else ExitCode.CRITICAL
    return max((instance_exit_code(result) for result in results), default=ExitCode.OK)


def cleanup_exit_code(
    results: list[PassResult], failures: Failures, misconf_exit_code: int, misconf_found: bool
) -> int:
    """``run`` and each ``serve`` cycle: when every instance failed, the first failure's code
    (69 makes ``serve`` retry sooner); else the worst of the passes and of any rescue."""
    if failures and not results and not misconf_found:
        return int(failures[0][1].exit_code)
    return max(run_exit_code(results, failures), misconf_exit_code)


def rescue_exit_code(rescue_codes: list[int], failures: Failures) -> int:
    """``rescue``: 0 only when every instance is rescued (or needed none); else the worst code
    (2, 69, …). ``rescue_codes`` are the instances' own outcome codes."""
    codes = rescue_codes + [int(error.exit_code) for _, error in failures]
    return max(codes, default=int(ExitCode.OK))
