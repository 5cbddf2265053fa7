"""The ``[policy]`` and ``[archive]`` configuration sections (plain validated data, no I/O).

Rules are ``[[policy.rules]]`` tables, tried in order; the first rule whose conditions all hold
decides the key's action. See config/janitor.example.toml for every option with an example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from janitor.core.units import parse_duration, parse_size

# The same units as config.settings (redefined here so settings.py can import this module).
Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
Bytes = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]

Action = Literal["keep", "expire", "archive", "delete"]
Goal = Literal["headroom", "all"]
LOCK_KEY_PATTERN = "redis-janitor:*"
"""Keys of the janitor itself (the run lock): protected whatever the configuration says."""
DEFAULT_ARCHIVE_DIR = Path("/var/lib/redis-janitor/archive")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class RuleSettings(_Strict):
    """One rule: every condition given must hold for the rule to match a key."""

    name: str = Field(min_length=1, description="Shown in plans, logs and reports.")
    match: list[str] = Field(default=["*"], min_length=1, description="Redis globs (any of).")
    exclude: list[str] = Field(default=[], description="Redis globs that veto the rule.")
    min_size: Bytes | None = Field(default=None, description="Only keys of at least this size.")
    min_idle: Seconds | None = Field(
        default=None, description="Only keys idle at least this long (LRU instances)."
    )
    max_freq: int | None = Field(
        default=None, ge=0, le=255, description="Only keys with OBJECT FREQ ≤ this (LFU)."
    )
    types: list[str] | None = Field(default=None, description="Only these Redis types.")
    dbs: list[int] | None = Field(default=None, description="Only these logical DBs.")
    no_ttl: bool | None = Field(
        default=None, description="true: only keys without a TTL; false: only keys with one."
    )
    ttl_over: Seconds | None = Field(
        default=None, description="Only keys without a TTL or with more than this left."
    )
    action: Action = Field(description="keep, expire, archive (then delete) or delete.")
    expire_in: Seconds | None = Field(
        default=None, description="For action expire: the TTL to set (never lengthened)."
    )

    @model_validator(mode="after")
    def _expire_needs_expire_in(self) -> RuleSettings:
        if self.action == "expire" and not self.expire_in:
            raise ValueError("action 'expire' needs expire_in (e.g. expire_in = \"1d\")")
        if self.action != "expire" and self.expire_in is not None:
            raise ValueError("expire_in only makes sense with action 'expire'")
        return self


class PolicySettings(_Strict):
    """Which keys to act on, how much to free and how fast."""

    goal: Goal = Field(
        default="headroom", description="headroom: free just enough; all: act on every match."
    )
    rules: list[RuleSettings] = Field(default=[], description="Tried in order; first match wins.")
    protected: list[str] = Field(
        default=[LOCK_KEY_PATTERN], description="Globs no rule may act on."
    )
    headroom_margin_bytes: Bytes = Field(
        default=64 * 1024**2, description="Freed on top of the need (goal headroom)."
    )
    score_size_exponent: float = Field(default=1.0, ge=0, description="Weight of bytes.")
    score_staleness_exponent: float = Field(default=1.0, ge=0, description="Weight of idleness.")
    max_keys: int = Field(
        default=10_000, ge=0, description="At most this many actions per run (0: no cap)."
    )
    max_bytes: Bytes = Field(default=0, description="At most this many bytes per run (0: no cap).")
    actions_per_second: float = Field(default=200.0, gt=0, description="Action rate limit.")
    max_candidates: int = Field(
        default=100_000, ge=1, description="Best-scored candidates kept in memory while scanning."
    )
    memory_purge: bool = Field(default=True, description="MEMORY PURGE after the actions.")
    settle_timeout: Seconds = Field(
        default=15.0, description="How long to wait for the allocator to settle (bounded)."
    )


class ArchiveSettings(_Strict):
    """Where archived keys go before they are deleted."""

    dir: Path = Field(default=DEFAULT_ARCHIVE_DIR, description="0700 directory of archive files.")
    max_payload_bytes: Bytes = Field(
        default=512 * 1024**2, description="Larger DUMP payloads are skipped, never deleted."
    )
    compression_level: int = Field(default=6, ge=0, le=9, description="zlib level per record.")
    lfu_safety_copy: bool = Field(
        default=True,
        description="Under an LFU maxmemory-policy, archive a key before deleting or expiring it "
        "(LFU shows no write since judgment; see docs/domain.md).",
    )
