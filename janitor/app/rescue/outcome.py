"""The result of a rescue: what was done, where the instance stands, what remains to be done.

``RescueOutcome.to_dict()`` is the JSON contract of ``rescue`` (and of a scheduled run's rescue):
``misconf_before``, ``misconf_after``, ``bgsave_status``, ``config_restored``, ``freed_bytes``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from janitor.core.errors import ExitCode
from janitor.core.units import format_bytes


@dataclass
class RescueOutcome:
    """What a rescue did and where the instance stands now (the JSON of ``rescue``)."""

    instance: str
    dry_run: bool
    misconf_before: bool
    persistence_before: dict[str, Any]
    diagnosis: dict[str, Any] | None = None
    original_settings: dict[str, str] | None = None
    block_lifted: bool = False
    rounds: int = 0
    freed_bytes: int = 0
    headroom_ok: bool | None = None
    bgsave_status: str = "skipped"
    config_restored: bool = True
    misconf_after: bool | None = None
    persistence_after: dict[str, Any] | None = None
    interrupted: bool = False
    error: str | None = None
    error_exit_code: int | None = None
    """The exit code of the error that stopped the rescue (77: an ACL rule is missing)."""
    advice: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 only when writes are accepted with the original settings after a good save, else 2
        (77 when an ACL refusal stopped it: the user lacks a rule)."""
        if self.error_exit_code == ExitCode.NO_PERMISSION:
            return int(ExitCode.NO_PERMISSION)
        saved = self.bgsave_status in ("ok", "not_needed")
        accepted = self.misconf_after is False
        fine = saved and accepted and self.config_restored and not self.interrupted
        return int(ExitCode.OK if fine and self.error is None else ExitCode.CRITICAL)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, ``exit_code`` included."""
        return {**asdict(self), "exit_code": self.exit_code}


@dataclass(frozen=True)
class RevertResult:
    """What ``finish_pending_reverts`` did for one pending record."""

    instance: str
    restored: bool
    message: str


def remaining_advice(
    outcome: RescueOutcome, cause_advice: str, still_needed_bytes: int | None
) -> list[str]:
    """What remains to be done after a rescue, one sentence each (empty when all is well)."""
    advice = []
    if outcome.headroom_ok is False:
        short = (
            f" (about {format_bytes(still_needed_bytes)} more: {still_needed_bytes} bytes)"
            if still_needed_bytes
            else ""
        )
        advice.append(
            f"the candidates ran out before the fork would fit{short}: widen the rules "
            "(lower min_size/min_idle, more patterns) or give the host more commit room"
        )
    if outcome.bgsave_status in ("err", "refused", "timeout"):
        advice.append(f"the rescue's BGSAVE ended with '{outcome.bgsave_status}'. {cause_advice}")
    if not outcome.config_restored:
        original = outcome.original_settings or {}
        advice.append(
            "the original save settings could NOT be put back; the next `rescue` or `run` "
            "retries (originals: stop-writes-on-bgsave-error "
            f"{original.get('stop_writes_on_bgsave_error')!r}, save {original.get('save')!r})"
        )
    if outcome.interrupted:
        advice.append("the rescue was interrupted by SIGTERM; run it again")
    return advice


def summary_lines(outcome: RescueOutcome) -> list[str]:
    """The outcome for a person: one headline saying what is wrong or fixed, then what remains."""
    original = outcome.original_settings or {}
    settings_text = (
        f"stop-writes-on-bgsave-error {original.get('stop_writes_on_bgsave_error')}, "
        f"save {original.get('save')!r}"
    )
    if outcome.bgsave_status == "not_needed":
        headline = f"{outcome.instance}: the last background save succeeded; nothing to rescue"
    elif outcome.dry_run:
        headline = (
            f"{outcome.instance}: dry run, nothing changed — a rescue would lift the write "
            "block, free memory by policy (first round in the plan above), BGSAVE, and the "
            f"settings would be put back ({settings_text})"
        )
    elif outcome.exit_code == 0:
        headline = (
            f"{outcome.instance}: rescued — BGSAVE ok, writes accepted, settings restored "
            f"({settings_text}); freed {format_bytes(outcome.freed_bytes)} "
            f"in {outcome.rounds} round(s)"
        )
    else:
        state = "refuses writes (MISCONF)" if outcome.misconf_after else "still at risk"
        headline = (
            f"{outcome.instance}: NOT rescued — {state}; BGSAVE {outcome.bgsave_status}, "
            f"settings {'restored' if outcome.config_restored else 'NOT restored'}, "
            f"freed {format_bytes(outcome.freed_bytes)}"
        )
    lines = [headline]
    if outcome.diagnosis is not None and outcome.exit_code != 0:
        lines.append(f"cause: {outcome.diagnosis['cause']} — {outcome.diagnosis['message']}")
    if outcome.error:
        lines.append(f"error: {outcome.error}")
    lines.extend(f"what to do: {advice}" for advice in outcome.advice)
    return lines
