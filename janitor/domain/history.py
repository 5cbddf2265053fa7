"""History samples: one compact record per instance per measurement, and its JSON-lines form.

Pure code. A sample is what one measurement (``run``, a ``serve`` cycle, ``headroom``,
``report``) saw of one instance: sizes in bytes, ``ts`` in unix seconds, the verdict, and a few
raw INFO fields (``info``) that later models (copy-on-write, forecast) read. Field names are a
contract shared with those readers: they never change meaning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from janitor.domain.server import parse_keyspace

SOURCES = ("run", "serve", "headroom", "report")
INFO_FIELDS = (
    "rdb_changes_since_last_save",
    "rdb_last_cow_size",
    "rdb_last_bgsave_time_sec",
    "rdb_saves",
    "total_forks",
    "rdb_bgsave_in_progress",
    "rdb_last_bgsave_status",
    "current_cow_size",
    "current_cow_peak",
    "current_fork_perc",
    "aof_enabled",
    "aof_last_cow_size",
    "aof_rewrites",
    "aof_rewrite_in_progress",
    "aof_last_rewrite_time_sec",
    "sync_full",
    "total_commands_processed",
    "total_net_input_bytes",
    "latest_fork_usec",
    "mem_fragmentation_ratio",
    "used_memory_dataset",
)
_INT_FIELDS = (
    "used_memory",
    "rss",
    "fork_charge",
    "commit_headroom",
    "cow_estimate",
    "cow_headroom",
    "need_to_free",
    "freed_bytes",
    "keys_acted",
)


class SampleError(ValueError):
    """A history line that is not a valid sample."""


@dataclass(frozen=True)
class Sample:
    """One instance at one moment. Sizes in bytes; None where the measurement had no figure."""

    ts: float
    instance: str
    source: str
    used_memory: int | None = None
    rss: int | None = None
    fork_charge: int | None = None
    commit_headroom: int | None = None
    cow_estimate: int | None = None
    cow_headroom: int | None = None
    need_to_free: int | None = None
    freed_bytes: int | None = None
    keys_acted: int | None = None
    verdict: str | None = None
    info: dict[str, int | float | str] = field(default_factory=dict)

    @property
    def headroom(self) -> int | None:
        """The room the fork has left: the smaller of commit and copy-on-write headroom."""
        known = [v for v in (self.commit_headroom, self.cow_headroom) if v is not None]
        return min(known) if known else None

    @property
    def is_cleanup(self) -> bool:
        """True when this measurement follows keys being acted on and memory freed."""
        return bool(self.keys_acted) and (self.freed_bytes or 0) > 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of one history line (None fields left out, ``info`` always present)."""
        document = {k: v for k, v in asdict(self).items() if v is not None}
        document["info"] = dict(self.info)
        return document


def select_info(info: Mapping[str, Any]) -> dict[str, int | float | str]:
    """Keep the raw INFO fields a sample records (missing or non-scalar ones left out), and
    ``keys``: the keys of all DBs when INFO has its keyspace section."""
    chosen: dict[str, int | float | str] = {}
    for name in INFO_FIELDS:
        value = info.get(name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | str) or (isinstance(value, float) and math.isfinite(value)):
            chosen[name] = value
    keyspace = parse_keyspace(info)
    if keyspace and "keys" not in chosen:
        chosen["keys"] = sum(keyspace.values())
    return chosen


def encode(sample: Sample) -> bytes:
    """One history line: compact JSON and a newline."""
    text = json.dumps(sample.to_dict(), separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def decode(line: bytes) -> Sample:
    """Parse one history line; raise SampleError when it is not a sample (torn, edited...)."""
    try:
        document = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SampleError(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise SampleError("not a JSON object")
    return from_dict(document)


def from_dict(document: Mapping[str, Any]) -> Sample:
    """Build a sample from its JSON object; unknown fields are ignored (newer writers)."""
    ts, instance, source = document.get("ts"), document.get("instance"), document.get("source")
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
        raise SampleError("ts: missing or not a number")
    if not isinstance(instance, str) or not isinstance(source, str):
        raise SampleError("instance/source: missing or not text")
    values: dict[str, Any] = {}
    for name in _INT_FIELDS:
        value = document.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise SampleError(f"{name}: not an integer")
        values[name] = value
    verdict = document.get("verdict")
    info = document.get("info") or {}
    if not isinstance(info, dict):
        raise SampleError("info: not an object")
    return Sample(
        ts=float(ts),
        instance=instance,
        source=source,
        verdict=verdict if isinstance(verdict, str) else None,
        info=select_info(info),
        **values,
    )


COLUMNS = tuple(f.name for f in fields(Sample) if f.name != "info")
"""The flat columns of a sample (CSV and text tables); ``info`` goes last as JSON."""
