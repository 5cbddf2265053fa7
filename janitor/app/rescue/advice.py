"""What a rescue that fell short says about what remains: how much more, and which rule would do.

While the rescue scans, ``LeftoverTally`` adds up the keys no rule acts on (protected keys
excluded) by how long they have been idle (the keys under the rules' smallest ``min_size`` by
size alone: the rescue reads no idle time for them). ``more_to_free_advice`` turns that, the
caps and the model's remaining need into sentences an operator can act on. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from janitor.config.policy_settings import PolicySettings, RuleSettings
from janitor.core.units import format_bytes
from janitor.domain.keys import KeyRecord
from janitor.domain.planner import Plan
from janitor.domain.policy import any_glob_matches, is_protected, judge

DAY = 86400
IDLE_STEPS: tuple[tuple[int, str], ...] = (
    (30 * DAY, "30d"),
    (7 * DAY, "7d"),
    (DAY, "1d"),
    (3600, "1h"),
    (0, ""),
)
"""Idle thresholds a suggested rule may use, stalest first ("" means any idle time)."""


@dataclass
class LeftoverTally:
    """Bytes and keys that no rule acts on, per idle threshold (cumulative: idle ≥ threshold).

    With a ``floor`` (the smallest ``min_size`` of the acting rules: the rescue then reads the
    idle time only of keys at least that big) the idle thresholds count the keys of at least
    ``floor`` bytes, and the smaller keys are tallied from their size alone (``small_bytes``):
    not protected and no ``keep`` rule able to match them on name, DB and size (a keep rule
    whose other conditions are unknown for them is assumed to keep them: the advice never
    promises bytes it did not see). A record of a small key is counted the same way, so the
    advice does not depend on which probes were sent.
    """

    policy: PolicySettings
    floor: int | None = None
    bytes_by_step: list[int] = field(default_factory=lambda: [0] * len(IDLE_STEPS))
    keys_by_step: list[int] = field(default_factory=lambda: [0] * len(IDLE_STEPS))
    small_bytes: int = 0
    small_keys: int = 0

    def offer(self, record: KeyRecord) -> None:
        """Count ``record`` when no rule matches it and it is not protected."""
        if self.floor is not None and record.size_bytes < self.floor:
            self.offer_small(record.db, record.key, record.size_bytes)
            return
        judgment = judge(self.policy, record)
        if judgment.rule is not None or judgment.protected:
            return
        for index, (seconds, _) in enumerate(IDLE_STEPS):
            idle = record.idle_seconds
            if seconds == 0 or (idle is not None and idle >= seconds):
                self.bytes_by_step[index] += record.size_bytes
                self.keys_by_step[index] += 1

    def offer_sizes(self, db: int, keys: Sequence[bytes], sizes: Sequence[Any]) -> None:
        """The size phase's replies: tally the keys under ``floor`` (the rest come as records)."""
        floor = self.floor
        if floor is None:
            return
        for key, size in zip(keys, sizes, strict=True):
            if size.__class__ is int and size < floor:
                self.offer_small(db, key, size)

    def offer_small(self, db: int, key: bytes, size: int) -> None:
        """Count a key under ``floor`` from its name and size alone."""
        if is_protected(self.policy, key):
            return
        if any(_may_keep(rule, db, key, size) for rule in self.policy.rules):
            return
        self.small_bytes += size
        self.small_keys += 1

    def suggestion(self, still_needed_bytes: int | None, round_bytes: int) -> str | None:
        """The stalest idle threshold whose leftover keys cover the need, as a command line."""
        wanted = still_needed_bytes if still_needed_bytes else round_bytes
        for index, (_, label) in enumerate(IDLE_STEPS):
            if self.bytes_by_step[index] >= wanted:
                return self._sentence(index, label)
        if self.floor is not None and self.small_bytes:
            every = self._every_key()
            if self.bytes_by_step[-1] + self.small_bytes >= wanted:
                return every
            return every + " — and even that may not be enough: give the host more commit room"
        if self.bytes_by_step[-1] == 0:
            return "every other key is protected or kept by a rule: nothing else could go"
        return (
            self._sentence(len(IDLE_STEPS) - 1, "")
            + " — and even that may not be enough: give the host more commit room"
        )

    def _sentence(self, index: int, label: str) -> str:
        idle = f" idle ≥ {label}" if label else ""
        flag = f" --min-idle {label}" if label else ""
        size = f" of {format_bytes(self.floor)} or more" if self.floor is not None else ""
        size_flag = f" --min-size {self.floor}" if self.floor is not None else ""
        return (
            f"keys{size} no rule acts on{idle} hold {format_bytes(self.bytes_by_step[index])} "
            f"({self.keys_by_step[index]} keys): `redis-janitor rescue --match '*'{size_flag}"
            f"{flag} --action archive` would free them (restorable with `redis-janitor restore`)"
        )

    def _every_key(self) -> str:
        total = self.bytes_by_step[-1] + self.small_bytes
        keys = self.keys_by_step[-1] + self.small_keys
        return (
            f"keys no rule acts on hold {format_bytes(total)} ({keys} keys, {self.small_keys} of "
            f"them under {format_bytes(self.floor or 0)}, whose idle time the rescue did not "
            "read): `redis-janitor rescue --match '*' --action archive` would free them "
            "(restorable with `redis-janitor restore`)"
        )


def _may_keep(rule: RuleSettings, db: int, key: bytes, size: int) -> bool:
    """True when a ``keep`` rule may match a key known by DB, name and size only."""
    if rule.action != "keep":
        return False
    if rule.dbs is not None and db not in rule.dbs:
        return False
    if rule.min_size is not None and size < rule.min_size:
        return False
    return any_glob_matches(rule.match, key) and not any_glob_matches(rule.exclude, key)


def more_to_free_advice(
    plan: Plan | None,
    tally: LeftoverTally | None,
    still_needed_bytes: int | None,
    removed_bytes: int,
    round_bytes: int,
    include_need: bool = True,
) -> list[str]:
    """Sentences on what more must go after a rescue that fell short; ``include_need=False``
    leaves out the first one (how much more) when the caller said it already."""
    advice = []
    if include_need and still_needed_bytes:
        advice.append(
            f"about {format_bytes(still_needed_bytes)} more must go, by the headroom model"
        )
    elif include_need:
        advice.append(
            f"{format_bytes(removed_bytes)} removed was not enough and the headroom model cannot "
            "say how much more (it judged the fork to fit)"
        )
    if plan is not None and plan.candidates == 0:
        advice.append(
            "no rule picked any key: configure [[policy.rules]] or pass --match GLOB "
            "--action archive|delete (with --min-idle/--min-size) to `redis-janitor rescue`"
        )
    if plan is not None and plan.left_out_by_caps:
        advice.append(
            f"{plan.left_out_by_caps} candidates were left out by policy.max_keys/max_bytes: "
            "raise those caps"
        )
    if tally is not None and (hint := tally.suggestion(still_needed_bytes, round_bytes)):
        advice.append(hint)
    return advice
