"""The policy: which rule (and so which action) applies to a scanned key, and its score. Pure.

Globs follow Redis (``KEYS``/``SCAN MATCH``) on raw bytes: ``*``, ``?``, ``[abc]``, ``[a-z]``,
``[^a]`` and ``\\x`` escapes. A key matching a protected glob (always including
``redis-janitor:*``, the janitor's own keys) is never acted on.

Score (higher is acted on first) = ``bytes ** a * (1 + staleness) ** b`` where staleness is the
idle time in seconds (LRU instances) or ``255 - OBJECT FREQ`` (LFU instances), and ``a``/``b`` are
``score_size_exponent`` / ``score_staleness_exponent`` (both 1 by default: bytes * idle seconds).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from janitor.config.policy_settings import LOCK_KEY_PATTERN, PolicySettings, RuleSettings
from janitor.domain.keys import KeyRecord

LFU_COUNTER_MAX = 255


@lru_cache(maxsize=1024)
def compile_glob(pattern: bytes) -> re.Pattern[bytes]:
    """Translate a Redis glob into a compiled bytes regex that matches the whole key."""
    out: list[bytes] = []
    index = 0
    while index < len(pattern):
        char = pattern[index : index + 1]
        index += 1
        if char == b"*":
            out.append(b".*")
        elif char == b"?":
            out.append(b".")
        elif char == b"\\" and index < len(pattern):
            out.append(re.escape(pattern[index : index + 1]))
            index += 1
        elif char == b"[":
            index = _character_class(pattern, index, out)
        else:
            out.append(re.escape(char))
    return re.compile(b"".join(out) + b"\\Z", re.DOTALL)


def _character_class(pattern: bytes, index: int, out: list[bytes]) -> int:
    """Append the regex for the ``[...]`` class starting at ``index``; return the index after."""
    negate = pattern[index : index + 1] == b"^"
    index += 1 if negate else 0
    members: list[bytes] = []
    while index < len(pattern) and pattern[index : index + 1] != b"]":
        char = pattern[index : index + 1]
        if char == b"\\" and index + 1 < len(pattern):
            index += 1
            char = pattern[index : index + 1]
        if pattern[index + 1 : index + 2] == b"-" and index + 2 < len(pattern):
            end = pattern[index + 2 : index + 3]
            low, high = sorted((char, end))
            members.append(re.escape(low) + b"-" + re.escape(high))
            index += 3
        else:
            members.append(re.escape(char))
            index += 1
    # Redis treats an unterminated class as running to the end of the pattern.
    index += 1
    if not members:
        out.append(b"[^\\x00-\\xff]" if not negate else b".")
    else:
        out.append(b"[" + (b"^" if negate else b"") + b"".join(members) + b"]")
    return index


def glob_matches(pattern: str | bytes, key: bytes) -> bool:
    """True when ``key`` matches the Redis glob ``pattern`` (str patterns are UTF-8)."""
    raw = pattern.encode() if isinstance(pattern, str) else pattern
    return compile_glob(raw).match(key) is not None


def any_glob_matches(patterns: Iterable[str], key: bytes) -> bool:
    """True when at least one of ``patterns`` matches ``key``."""
    return any(glob_matches(pattern, key) for pattern in patterns)


@dataclass(frozen=True)
class Judgment:
    """What the policy decided for one key: the rule that matched (None: no rule) and why."""

    rule: RuleSettings | None
    protected: bool = False

    @property
    def action(self) -> str:
        """The action to take; ``keep`` when no rule matched or the key is protected."""
        return "keep" if self.rule is None or self.protected else self.rule.action


KeyFilter = Callable[[bytes], bool]


def key_filter(match: list[str] | None, exclude: list[str] | None) -> KeyFilter | None:
    """A predicate keeping keys that match one of ``match`` (None: any) and none of
    ``exclude``; None when there is nothing to filter."""
    if not match and not exclude:
        return None
    includes, excludes = list(match or []), list(exclude or [])

    def keep(key: bytes) -> bool:
        if includes and not any_glob_matches(includes, key):
            return False
        return not any_glob_matches(excludes, key)

    return keep


def rule_matches(rule: RuleSettings, record: KeyRecord) -> bool:
    """True when every condition of ``rule`` holds for ``record``.

    A staleness condition the instance cannot answer (``min_idle`` on an LFU instance,
    ``max_freq`` on an LRU one) does not hold: unknown staleness never makes a key a candidate.
    """
    if rule.dbs is not None and record.db not in rule.dbs:
        return False
    if rule.types is not None and record.type not in rule.types:
        return False
    if rule.min_size is not None and record.size_bytes < rule.min_size:
        return False
    if rule.min_idle is not None and (
        record.idle_seconds is None or record.idle_seconds < rule.min_idle
    ):
        return False
    if rule.max_freq is not None and (record.freq is None or record.freq > rule.max_freq):
        return False
    if rule.no_ttl is not None and rule.no_ttl != (record.ttl_ms is None):
        return False
    if (
        rule.ttl_over is not None
        and record.ttl_ms is not None
        and record.ttl_ms <= rule.ttl_over * 1000
    ):
        return False
    if not any_glob_matches(rule.match, record.key):
        return False
    return not any_glob_matches(rule.exclude, record.key)


def is_protected(policy: PolicySettings, key: bytes) -> bool:
    """True when ``key`` matches a protected glob or is one of the janitor's own keys."""
    return glob_matches(LOCK_KEY_PATTERN, key) or any_glob_matches(policy.protected, key)


def judge(policy: PolicySettings, record: KeyRecord) -> Judgment:
    """Return the first rule matching ``record`` (or none), and whether the key is protected."""
    if is_protected(policy, record.key):
        return Judgment(rule=None, protected=True)
    for rule in policy.rules:
        if rule_matches(rule, record):
            return Judgment(rule=rule)
    return Judgment(rule=None)


def staleness(record: KeyRecord) -> float:
    """Idle seconds (LRU) or ``255 - freq`` (LFU); 0 when unknown."""
    if record.idle_seconds is not None:
        return float(record.idle_seconds)
    if record.freq is not None:
        return float(max(0, LFU_COUNTER_MAX - record.freq))
    return 0.0


def score(policy: PolicySettings, record: KeyRecord) -> float:
    """The candidate's priority: ``bytes ** a * (1 + staleness) ** b`` (see module docstring)."""
    size_part = float(record.size_bytes) ** policy.score_size_exponent
    staleness_part = (1.0 + staleness(record)) ** policy.score_staleness_exponent
    return float(size_part * staleness_part)
