"""The report's fast path: fold probe replies straight into the aggregates. Pure.

A full-metadata report needs no KeyRecord per key: only the (db, type, size bucket, idle
bucket, TTL bucket, prefix) combination, and a record for the few keys that enter the top-N.
``fold_replies`` reads the parsed replies (ints and bytes, as hiredis gives them) and does just
that; a key whose replies are not the plain kind (vanished, errors, module types) is returned
for the caller to decode the careful way.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Any

from janitor.domain.aggregates import (
    _IDLE_LABELS,
    _IDLE_LIMITS,
    _TTL_LABELS,
    _TTL_LIMITS_MS,
    IDLE_NOT_TRACKED,
    NO_PREFIX,
    TTL_NONE,
    KeyspaceAggregates,
    key_prefix,
)
from janitor.domain.keys import KeyRecord

TYPE_NAMES = {name.encode(): name for name in ("string", "list", "set", "zset", "hash", "stream")}


def fold_replies(
    aggregates: KeyspaceAggregates,
    db: int,
    keys: Sequence[bytes],
    replies: tuple[Sequence[Any], Sequence[Any], Iterable[Any], Sequence[Any]],
    is_freq: bool,
    pending: dict[tuple[int, str, int, str, str, bytes], list[int]] | None = None,
) -> list[int]:
    """Account for the keys whose (size, staleness, PTTL, type) replies are plain.

    Returns the positions of the others. PTTL replies of a DB without expiring keys may be an
    endless ``repeat(-1)``. With ``pending`` the per-combination counts are added there and
    folded into ``aggregates`` later by the caller (``aggregates.fold(pending)``): small
    requests then do not pay for a fold each; the top-N is kept up to date either way.
    """
    sizes, stalenesses, pttls, types = replies
    names = TYPE_NAMES
    separators = aggregates.separators
    single_separator = len(separators) == 1
    idle_limits, idle_labels = _IDLE_LIMITS, _IDLE_LABELS
    ttl_limits, ttl_labels = _TTL_LIMITS_MS, _TTL_LABELS
    top_floor = aggregates.top_floor()
    batch: dict[tuple[int, str, int, str, str, bytes], list[int]] = (
        {} if pending is None else pending
    )
    unusual: list[int] = []
    index = -1
    for key, size, staleness, pttl, key_type in zip(  # noqa: B905 (pttls may be endless)
        keys, sizes, stalenesses, pttls, types
    ):
        index += 1
        type_name = names.get(key_type)
        if (
            type_name is None
            or size.__class__ is not int
            or staleness.__class__ is not int
            or pttl.__class__ is not int
            or pttl == -2
        ):
            unusual.append(index)
            continue
        if single_separator:
            found = key.find(separators)
            prefix = key[:found] if found >= 0 else NO_PREFIX
        else:
            prefix = key_prefix(key, separators)
        if is_freq:
            idle_label = IDLE_NOT_TRACKED
        else:
            idle_label = idle_labels[bisect_right(idle_limits, staleness)]
        combo = (
            db,
            type_name,
            1 << (size - 1).bit_length() if size > 1 else 1,
            idle_label,
            TTL_NONE if pttl < 0 else ttl_labels[bisect_right(ttl_limits, pttl)],
            prefix,
        )
        tally = batch.get(combo)
        if tally is None:
            batch[combo] = [1, size]
        else:
            tally[0] += 1
            tally[1] += size
        if size > top_floor:
            aggregates.add_top(
                KeyRecord(
                    db=db,
                    key=key,
                    type=type_name,
                    size_bytes=size,
                    idle_seconds=None if is_freq else staleness,
                    freq=staleness if is_freq else None,
                    ttl_ms=pttl if pttl >= 0 else None,
                )
            )
            top_floor = aggregates.top_floor()
    if pending is None:
        aggregates.fold(batch)
    return unusual
