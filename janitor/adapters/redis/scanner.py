"""The keyspace scanner: SCAN every DB and probe each key's size, staleness, TTL and type.

Only commands that leave the LRU/LFU clock alone are sent (SCAN, MEMORY USAGE, OBJECT
IDLETIME|FREQ, PTTL, TYPE; see ``probes``). The next SCAN and each batch's probes go out as
one pre-packed buffer on a raw connection, and while Redis works on batch N+1 the caller
consumes the records of batch N, so client and server run side by side. With
``max_server_cpu`` set the scan is paced instead (janitor.domain.cpu_budget). A key that disappears
between SCAN and its probes is skipped silently. SCAN may return a key twice while the table is
resized; aggregates then count it twice, which Redis's SCAN guarantees make rare.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

import redis

from janitor.adapters.redis.probes import (
    PROBES_PER_KEY,
    ProbePacker,
    decode_probes,
    pack_scan,
    scan_reply,
)
from janitor.adapters.redis.resp import RawConnection
from janitor.adapters.redis.sampler import ServerSampler
from janitor.config.settings import ScanSettings
from janitor.domain.cpu_budget import CpuBudgetController
from janitor.domain.keys import KeyRecord
from janitor.domain.policy import KeyFilter, key_filter
from janitor.domain.server import IdleMetric

__all__ = ["KeyRecord", "KeyspaceScanner", "ProgressCallback", "ScanOptions", "cyclic_gc_paused"]


@dataclass(frozen=True)
class ScanOptions:
    """The knobs of one scan (see ScanSettings); ``max_server_cpu`` None: no cap."""

    count: int = 1000
    samples: int = 5
    match: bytes | None = None
    type: str | None = None
    pause_seconds: float = 0.0
    max_server_cpu: float | None = None
    keep: KeyFilter | None = None
    """Client-side filter applied to SCAN's keys before probing (several globs, excludes)."""

    @classmethod
    def from_settings(cls, settings: ScanSettings) -> ScanOptions:
        """Build options from the ``[scan]`` section.

        One ``match`` glob goes to the server as SCAN MATCH; several (or any ``exclude``) are
        filtered here on one SCAN pass, since a pass per glob would walk the keyspace again for
        each and find keys matching two globs twice.
        """
        server_side = settings.match[0] if settings.match and len(settings.match) == 1 else None
        client_side = settings.match if server_side is None else None
        return cls(
            count=settings.count,
            samples=settings.samples,
            match=server_side.encode() if server_side is not None else None,
            keep=key_filter(client_side, settings.exclude),
            type=settings.type,
            pause_seconds=settings.pause,
            max_server_cpu=settings.max_server_cpu if settings.max_server_cpu < 1 else None,
        )


ProgressCallback = Callable[[int], None]


class KeyspaceScanner:
    """Walks the DBs of one instance and yields KeyRecords in batches.

    ``probe(client, db, keys)`` probes one batch on its own; a subclass that overrides it (to
    watch or disturb every batch, as tests do) gets a scan that calls it batch by batch, with
    neither overlap nor CPU budget. ``cpu_budget`` is the pacing controller once a paced scan
    has started (None when unthrottled).
    """

    def __init__(
        self,
        client_for_db: Callable[[int], redis.Redis],
        idle_metric: IdleMetric,
        options: ScanOptions,
        progress: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client_for_db = client_for_db
        self._idle_metric = idle_metric
        self._options = options
        self._progress = progress
        self._packer = ProbePacker(idle_metric, options.samples)
        self._clock = clock
        self._sleep = sleep
        self.cpu_budget: CpuBudgetController | None = None

    def scan(self, dbs: Iterable[int]) -> Iterator[list[KeyRecord]]:
        """Yield batches of records for every key in ``dbs``, one DB after the other."""
        for db in dbs:
            yield from self.scan_db(db)

    def scan_db(self, db: int) -> Iterator[list[KeyRecord]]:
        """Yield batches of records for every key in logical database ``db``."""
        client = self._client_for_db(db)
        if type(self).probe is not KeyspaceScanner.probe:
            yield from self._scan_batch_by_batch(client, db)
        elif self._options.max_server_cpu is not None:
            yield from self._scan_paced(client, db, self._options.max_server_cpu)
        else:
            yield from self._scan_overlapped(client, db)

    def probe(self, client: redis.Redis, db: int, keys: list[bytes]) -> list[KeyRecord]:
        """Probe ``keys`` in one pipelined round trip; vanished keys are left out."""
        with RawConnection(client) as wire:
            wire.send(self._packer.pack(keys), PROBES_PER_KEY * len(keys))
            replies = wire.read(PROBES_PER_KEY * len(keys))
        return decode_probes(db, keys, replies, self._idle_metric)

    def _scan_command(self, cursor: int, count: int | None = None) -> bytes:
        options = self._options
        return pack_scan(cursor, count or options.count, options.match, options.type)

    def _kept(self, reply: tuple[int, list[bytes]]) -> tuple[int, list[bytes]]:
        """SCAN's reply with the keys the client-side filter leaves out removed."""
        keep = self._options.keep
        if keep is None:
            return reply
        cursor, keys = reply
        return cursor, [key for key in keys if keep(key)]

    def _batch_done(self, keys: int) -> None:
        if self._progress is not None:
            self._progress(keys)
        if self._options.pause_seconds:
            self._sleep(self._options.pause_seconds)

    def _scan_overlapped(self, client: redis.Redis, db: int) -> Iterator[list[KeyRecord]]:
        """Full speed: Redis always has the next batch queued while the caller consumes one.

        Each buffer sent is ``SCAN <next cursor>`` followed by the probes of the keys in hand,
        so the SCAN reply comes back first and the buffer after it can go out before this
        batch's probe replies are even read.
        """
        with RawConnection(client) as wire:
            wire.send(self._scan_command(0), 1)
            cursor, keys = self._kept(scan_reply(wire.read(1)[0]))
            in_flight: list[bytes] = []
            while True:
                more = cursor != 0
                owed = more + PROBES_PER_KEY * len(keys)
                if owed:
                    scan_next = self._scan_command(cursor) if more else b""
                    wire.send(scan_next + self._packer.pack(keys), owed)
                if in_flight:
                    replies = wire.read(PROBES_PER_KEY * len(in_flight))
                    yield decode_probes(db, in_flight, replies, self._idle_metric)
                    self._batch_done(len(in_flight))
                if not owed:
                    return
                in_flight = keys
                cursor, keys = self._kept(scan_reply(wire.read(1)[0])) if more else (0, [])

    def _scan_paced(self, client: redis.Redis, db: int, budget: float) -> Iterator[list[KeyRecord]]:
        """Throttled: one batch at a time, spaced so the scan's server CPU stays in budget."""
        if self.cpu_budget is None:
            self.cpu_budget = CpuBudgetController(budget, max_count=self._options.count)
        pacing = self.cpu_budget
        sampler = ServerSampler(client)
        with RawConnection(client) as wire:
            cursor = 0
            while True:
                self._sleep(pacing.delay(self._clock()))
                pacing.batch_started(self._clock(), sampler.read())
                wire.send(self._scan_command(cursor, pacing.count), 1)
                cursor, keys = self._kept(scan_reply(wire.read(1)[0]))
                if keys:
                    wire.send(self._packer.pack(keys), PROBES_PER_KEY * len(keys))
                    replies = wire.read(PROBES_PER_KEY * len(keys))
                pacing.batch_finished(self._clock(), sampler.read(), len(keys))
                if keys:
                    yield decode_probes(db, keys, replies, self._idle_metric)
                    self._batch_done(len(keys))
                if cursor == 0:
                    return

    def _scan_batch_by_batch(self, client: redis.Redis, db: int) -> Iterator[list[KeyRecord]]:
        """The plain loop: SCAN, then ``self.probe`` on the keys, one batch at a time."""
        cursor = 0
        while True:
            cursor, found = client.scan(
                cursor=cursor,
                match=self._options.match,
                count=self._options.count,
                _type=self._options.type,
            )
            keys = self._kept((cursor, cast(list[bytes], found)))[1]
            if keys:
                yield self.probe(client, db, keys)
                self._batch_done(len(keys))
            if cursor == 0:
                return


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around a scan's consuming loop.

    A scan allocates millions of short-lived records; the collector's passes over them cost
    about 15 % of the client's CPU and find nothing (records hold no reference cycles, so
    reference counting frees them). The collector is switched back on afterwards if it was on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
