"""What a rescue that fell short says about what remains: how much more, and which rule would do.

While the rescue scans, ``LeftoverTally`` adds up the keys no rule acts on (protected keys
excluded) by how long they have been idle. ``more_to_free_advice`` turns that, the caps and the
model's remaining need into sentences an operator can act on. Pure: records in, text out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from janitor.config.policy_settings import PolicySettings
from janitor.core.units import format_bytes
from janitor.domain.keys import KeyRecord
from janitor.domain.planner import Plan
from janitor.domain.policy import judge

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
    """Bytes and keys that no rule acts on, per idle threshold (cumulative: idle ≥ threshold)."""

    policy: PolicySettings
    bytes_by_step: list[int] = field(default_factory=lambda: [0] * len(IDLE_STEPS))
    keys_by_step: list[int] = field(default_factory=lambda: [0] * len(IDLE_STEPS))

    def offer(self, record: KeyRecord) -> None:
        """Count ``record`` when no rule matches it and it is not protected."""
        judgment = judge(self.policy, record)
        if judgment.rule is not None or judgment.protected:
            return
        for index, (seconds, _) in enumerate(IDLE_STEPS):
            idle = record.idle_seconds
            if seconds == 0 or (idle is not None and idle >= seconds):
                self.bytes_by_step[index] += record.size_bytes
                self.keys_by_step[index] += 1

    def suggestion(self, still_needed_bytes: int | None, round_bytes: int) -> str | None:
        """The stalest idle threshold whose leftover keys cover the need, as a command line."""
        wanted = still_needed_bytes if still_needed_bytes else round_bytes
        for index, (_, label) in enumerate(IDLE_STEPS):
            if self.bytes_by_step[index] >= wanted:
                return self._sentence(index, label)
        if self.bytes_by_step[-1] == 0:
            return "every other key is protected or kept by a rule: nothing else could go"
        return (
            self._sentence(len(IDLE_STEPS) - 1, "")
            + " — and even that may not be enough: give the host more commit room"
        )

    def _sentence(self, index: int, label: str) -> str:
        idle = f" idle ≥ {label}" if label else ""
        flag = f" --min-idle {label}" if label else ""
        return (
            f"keys no rule acts on{idle} hold {format_bytes(self.bytes_by_step[index])} "
            f"({self.keys_by_step[index]} keys): `redis-janitor rescue --match '*'{flag} "
            "--action archive` would free them (restorable with `redis-janitor restore`)"
        )


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
