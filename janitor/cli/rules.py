"""Flags shared by the commands that act on keys (``run``, ``rescue``): ad-hoc rules, consent."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from janitor.core.errors import UsageError
from janitor.core.units import parse_duration, parse_size

F = TypeVar("F", bound=Callable[..., Any])
DB_INDEX = click.IntRange(min=0)
"""A ``--db`` value: a logical database number (checked against the server when scanning)."""


def _parsed(parse: Any, flag: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from None


def adhoc_policy(
    match: tuple[str, ...],
    min_size: str | None,
    min_idle: str | None,
    key_types: tuple[str, ...],
    action: str | None,
    expire_in: str | None,
    goal: str | None,
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The ``policy`` overrides for ad-hoc rule flags (empty when none are given)."""
    filters_given = bool(match or exclude or min_size or min_idle or key_types or expire_in)
    if action is None:
        if filters_given:
            raise UsageError("ad-hoc rule flags need --action expire|archive|delete")
        return {"goal": goal}
    if not match:
        raise UsageError("--action needs --match GLOB (use --match '*' to mean every key)")
    if (action == "expire") != (expire_in is not None):
        raise UsageError("--expire-in goes with --action expire, and --action expire needs it")
    ttl = _parsed(parse_duration, "--expire-in", expire_in)
    if ttl is not None and ttl <= 0:
        raise UsageError(
            "--expire-in: must be more than 0 (a TTL of 0 deletes the key at once; "
            "for that use --action delete)"
        )
    rule: dict[str, Any] = {
        "name": "command-line",
        "match": list(match),
        "exclude": list(exclude) or None,
        "min_size": _parsed(parse_size, "--min-size", min_size),
        "min_idle": _parsed(parse_duration, "--min-idle", min_idle),
        "types": list(key_types) or None,
        "action": action,
        "expire_in": ttl,
    }
    return {"rules": [{k: v for k, v in rule.items() if v is not None}], "goal": goal or "all"}


def require_consent(dry_run: bool, yes: bool, what: str) -> bool:
    """True when the operator must confirm on the terminal; exit 64 without one (and no --yes)."""
    if dry_run or yes:
        return False
    if not sys.stdin.isatty():
        raise UsageError(f"{what} changes data: without a terminal pass --yes (or --dry-run)")
    return True


def rule_options(command: F) -> F:
    """Add the ad-hoc rule flags shared by ``run`` and ``rescue``; the command receives them
    together as one ``rule_flags: RuleFlags`` argument."""
    decorators = [
        click.option("--match", multiple=True, help="Ad-hoc rule: key glob (repeatable)."),
        click.option(
            "--exclude", multiple=True, help="Ad-hoc rule: glob that vetoes it (repeatable)."
        ),
        click.option("--min-size", help="Ad-hoc rule: at least this size, e.g. 1MiB."),
        click.option("--min-idle", help="Ad-hoc rule: idle at least this long, e.g. 30d."),
        click.option("--type", "key_types", multiple=True, help="Ad-hoc rule: only this type."),
        click.option(
            "--action", type=click.Choice(["expire", "archive", "delete"]), help="Ad-hoc rule."
        ),
        click.option("--expire-in", help="Ad-hoc rule: TTL for --action expire, e.g. 1d."),
        click.option(
            "--archive-dir", type=click.Path(path_type=Path), help="Override archive.dir."
        ),
        click.option(
            "--db", "dbs", type=DB_INDEX, multiple=True, help="Only this DB (repeatable)."
        ),
    ]

    @functools.wraps(command)
    def with_rule_flags(*args: Any, **kwargs: Any) -> Any:
        flags = RuleFlags(**{name: kwargs.pop(name) for name in _RULE_FLAG_NAMES})
        return command(*args, rule_flags=flags, **kwargs)

    wrapped: Any = with_rule_flags
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return cast(F, wrapped)


@dataclass(frozen=True)
class RuleFlags:
    """The ad-hoc rule flags of one ``run`` or ``rescue`` invocation, as typed."""

    match: tuple[str, ...]
    exclude: tuple[str, ...]
    min_size: str | None
    min_idle: str | None
    key_types: tuple[str, ...]
    action: str | None
    expire_in: str | None
    archive_dir: Path | None
    dbs: tuple[int, ...]

    def overrides(self, goal: str | None = None) -> dict[str, Any]:
        """The settings overrides these flags stand for (policy, archive dir, DBs)."""
        policy = adhoc_policy(
            self.match,
            self.min_size,
            self.min_idle,
            self.key_types,
            self.action,
            self.expire_in,
            goal,
            self.exclude,
        )
        return {
            "policy": policy,
            "archive": {"dir": self.archive_dir},
            "scan": {"dbs": list(self.dbs) or None},
        }


_RULE_FLAG_NAMES = tuple(field.name for field in fields(RuleFlags))
