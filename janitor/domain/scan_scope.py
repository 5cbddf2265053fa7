"""What a ``run`` scan must learn, from the policy: the least it can ask Redis for. Pure.

A key can only become a candidate through a rule whose action is not ``keep``; so the scan
needs full metadata only for keys at least as big as the smallest ``min_size`` those rules use
(none when one of them has no ``min_size``), and may let SCAN filter by MATCH / TYPE when every
acting rule names the same single glob / type. A DB whose INFO keyspace says ``expires=0`` has
no key with a TTL, so PTTL is not asked there (an action re-reads the TTL under WATCH anyway).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from janitor.config.policy_settings import PolicySettings

_DB_SECTION = re.compile(r"^db(\d+)$")


@dataclass(frozen=True)
class ScanScope:
    """The size floor below which no rule acts, and the SCAN filters every acting rule shares."""

    min_size: int | None
    match: str | None
    type: str | None


def scan_scope(policy: PolicySettings) -> ScanScope:
    """Return the scope of ``policy``'s acting rules (everything when none acts)."""
    acting = [rule for rule in policy.rules if rule.action != "keep"]
    if not acting:
        return ScanScope(min_size=None, match=None, type=None)
    sizes = [rule.min_size for rule in acting if rule.min_size is not None]
    min_size = min(sizes) if len(sizes) == len(acting) else None
    globs = {tuple(rule.match) for rule in acting}
    match = None
    if len(globs) == 1:
        (only,) = globs
        match = only[0] if len(only) == 1 and only[0] != "*" else None
    kinds = {tuple(rule.types) if rule.types is not None else None for rule in acting}
    kind = None
    if len(kinds) == 1:
        (only_kinds,) = kinds
        kind = only_kinds[0] if only_kinds is not None and len(only_kinds) == 1 else None
    return ScanScope(min_size=min_size, match=match, type=kind)


def dbs_without_expires(info: Mapping[str, Any]) -> frozenset[int]:
    """The DBs whose INFO keyspace entry says ``expires=0`` (no key there has a TTL)."""
    found: set[int] = set()
    for name, value in info.items():
        section = _DB_SECTION.match(str(name))
        if section is None:
            continue
        if isinstance(value, Mapping):
            expires = value.get("expires")
        else:
            hit = re.search(r"expires=(\d+)", str(value))
            expires = hit.group(1) if hit else None
        if expires is not None and int(expires) == 0:
            found.add(int(section.group(1)))
    return frozenset(found)
