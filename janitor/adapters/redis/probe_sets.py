"""Which probes a scan sends per key, packed as raw RESP, and the records their replies give.

A full probe asks, per key, ``MEMORY USAGE key SAMPLES n``, ``OBJECT IDLETIME`` (``FREQ`` under
an LFU policy), ``PTTL`` (left out in a DB whose INFO keyspace says ``expires=0``: every key
there has no TTL) and ``TYPE``. A two-phase probe (``min_size`` set) first asks only
``MEMORY USAGE``; the rest is asked for the keys of at least ``min_size`` bytes, the only ones a
rule can match. None of these commands touches the LRU/LFU clock. Pure code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from janitor.adapters.redis.probes import decode_records, memory_usage_template
from janitor.adapters.redis.resp import encode_arg
from janitor.domain.aggregates import KeyspaceAggregates
from janitor.domain.keys import KeyRecord
from janitor.domain.reply_aggregation import fold_replies
from janitor.domain.server import IdleMetric

FOLD_EVERY = 64
"""Requests whose per-combination counts are folded into the aggregates together."""


@dataclass(frozen=True)
class ProbePlan:
    """What to ask per key in one DB.

    Everything at once by default; two-phase when ``min_size`` is set (the rest for keys of at
    least that size) or ``select(key, size)`` is given (the rest for the keys it picks).
    ``with_ttl`` False: no PTTL (the DB has no expiring key).
    """

    min_size: int | None = None
    with_ttl: bool = True
    select: Callable[[bytes, int], bool] | None = None
    fold_into: KeyspaceAggregates | None = None
    """One-phase only: fold plain replies into these aggregates; records only for the rest."""


class ProbeSet:
    """Packs one DB's probes and decodes their replies into KeyRecords."""

    def __init__(self, db: int, idle_metric: IdleMetric, samples: int, plan: ProbePlan) -> None:
        self.db = db
        self.is_freq = idle_metric is IdleMetric.FREQ
        self.with_ttl = plan.with_ttl
        self.min_size = plan.min_size
        self._select = plan.select
        self._fold_into = plan.fold_into
        self._pending: dict[tuple[int, str, int, str, str, bytes], list[int]] = {}
        self._pending_calls = 0
        subcommand = "FREQ" if self.is_freq else "IDLETIME"
        self._size = memory_usage_template(samples)
        meta = [b"*3\r\n" + encode_arg("OBJECT") + encode_arg(subcommand)]
        if plan.with_ttl:
            meta.append(b"*2\r\n" + encode_arg("PTTL"))
        meta.append(b"*2\r\n" + encode_arg("TYPE"))
        self._meta = b"".join(part.replace(b"%", b"%%") + b"%b" for part in meta)
        self.meta_per_key = len(meta)
        self.two_phase = plan.min_size is not None or plan.select is not None
        self.first_per_key = 1 if self.two_phase else 1 + self.meta_per_key
        self._first = self._size if self.two_phase else self._size + self._meta
        self._first_args = 1 if self.two_phase else 1 + self.meta_per_key

    def pack_first(self, keys: Sequence[bytes]) -> bytes:
        """The first-phase probes of ``keys`` (size only, or everything)."""
        template, count = self._first, self._first_args
        return b"".join(
            [template % ((b"$%d\r\n%b\r\n" % (len(key), key),) * count) for key in keys]
        )

    def pack_meta(self, keys: Sequence[bytes]) -> bytes:
        """The second-phase probes (staleness, TTL, type) of ``keys``."""
        template, count = self._meta, self.meta_per_key
        return b"".join(
            [template % ((b"$%d\r\n%b\r\n" % (len(key), key),) * count) for key in keys]
        )

    def big_keys(self, keys: Sequence[bytes], sizes: Sequence[Any]) -> list[tuple[bytes, Any]]:
        """Two-phase: the keys (with their size replies) that need the second phase."""
        pairs = zip(keys, sizes, strict=True)
        select = self._select
        if select is not None:
            return [
                (key, size) for key, size in pairs if size.__class__ is not int or select(key, size)
            ]
        floor = self.min_size or 0
        return [(key, size) for key, size in pairs if size.__class__ is not int or size >= floor]

    def first_records(self, keys: Sequence[bytes], replies: Sequence[Any]) -> list[KeyRecord]:
        """One-phase: the records of ``keys`` from their first-phase replies."""
        step = self.first_per_key
        sizes = replies[0::step]
        if self._fold_into is None:
            return self._records(keys, sizes, replies[1:], step)
        meta = replies[1:]
        pttls: Any = meta[1::step] if self.with_ttl else repeat(-1)
        replies_by_kind = (sizes, meta[0::step], pttls, meta[self.meta_per_key - 1 :: step])
        unusual = fold_replies(
            self._fold_into, self.db, keys, replies_by_kind, self.is_freq, self._pending
        )
        self._pending_calls += 1
        if self._pending_calls >= FOLD_EVERY:
            self.flush()
        if not unusual:
            return []
        picked = [replies[i * step : (i + 1) * step] for i in unusual]
        flat = [reply for group in picked for reply in group]
        return self._records([keys[i] for i in unusual], flat[0::step], flat[1:], step)

    def flush(self) -> None:
        """Fold the counts that small requests left pending into the aggregates (call it when
        the DB's scan ends or stops)."""
        if self._fold_into is not None and self._pending:
            self._fold_into.fold(self._pending)
        self._pending = {}
        self._pending_calls = 0

    def meta_records(
        self, items: Sequence[tuple[bytes, Any]], replies: Sequence[Any]
    ) -> list[KeyRecord]:
        """Two-phase: the records of ``items`` (key, size reply) from their meta replies."""
        keys = [key for key, _ in items]
        sizes = [size for _, size in items]
        return self._records(keys, sizes, replies, self.meta_per_key)

    def _records(
        self, keys: Sequence[bytes], sizes: Sequence[Any], meta: Sequence[Any], step: int
    ) -> list[KeyRecord]:
        pttls: Any = meta[1::step] if self.with_ttl else repeat(-1)
        types = meta[self.meta_per_key - 1 :: step]
        return decode_records(self.db, keys, (sizes, meta[0::step], pttls, types), self.is_freq)
