"""The keyspace scanner: SCAN every DB and probe each key's size, staleness, TTL and type.

Only commands that leave the LRU/LFU clock alone are sent (SCAN, MEMORY USAGE, OBJECT
IDLETIME|FREQ, PTTL, TYPE; see ``probe_sets``). SCAN and the probes go out pipelined on a raw
connection (``probe_pipeline``). Two limits keep other clients served: ``max_server_cpu`` bounds
the scan's *share* of Redis's main thread (janitor.domain.cpu_budget paces windows of requests),
``max_batch_server_time`` bounds how long any one request holds it (so how long another client
can wait behind the scan): requests carry that bound's worth of keys at the server CPU per key
measured so far. With neither, the scan runs at full speed in big requests. A two-phase
``ProbePlan`` asks only MEMORY USAGE first and the rest for big keys.
A key that disappears between SCAN and its probes is skipped silently; SCAN may return a key
twice while the table is resized (then it is counted twice; rare).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import redis

from janitor.adapters.redis.probe_pipeline import ProbePipeline, ScanCursor
from janitor.adapters.redis.probe_sets import ProbePlan, ProbeSet
from janitor.adapters.redis.probes import PROBES_PER_KEY, ProbePacker, decode_probes
from janitor.adapters.redis.resp import RawConnection
from janitor.adapters.redis.sampler import ServerSampler
from janitor.config.settings import ScanSettings
from janitor.domain.cpu_budget import CpuBudgetController
from janitor.domain.keys import KeyRecord
from janitor.domain.policy import KeyFilter, key_filter
from janitor.domain.server import IdleMetric

__all__ = [
    "KeyRecord",
    "KeyspaceScanner",
    "ProbePlan",
    "ProgressCallback",
    "ScanCursor",
    "ScanOptions",
    "cyclic_gc_paused",
]

INITIAL_COST_PER_KEY = 3e-6
"""Server CPU per key assumed until the first window is measured (full probes ~2 µs)."""
MIN_KEYS_PER_REQUEST = 8
WINDOW_MAX_KEYS = 100_000
WINDOW_SECONDS = 0.05


@dataclass(frozen=True)
class ScanOptions:
    """The knobs of one scan (see ScanSettings); None / 0: no cap."""

    count: int = 1000
    samples: int = 5
    match: bytes | None = None
    type: str | None = None
    pause_seconds: float = 0.0
    max_server_cpu: float | None = None
    max_batch_server_time: float = 0.0
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
            max_batch_server_time=settings.max_batch_server_time,
        )


ProgressCallback = Callable[[int], None]


class KeyspaceScanner:
    """Walks the DBs of one instance and yields KeyRecords in batches.

    ``probe(client, db, keys)`` probes one batch on its own; a subclass that overrides it (to
    watch or disturb every batch, as tests do) gets a scan that calls it batch by batch, with
    neither overlap nor CPU budget. ``cpu_budget`` is the pacing controller once a paced or
    bounded scan has started. ``plans`` gives a DB's ProbePlan (default: everything at once).
    ``keys_scanned`` counts the keys whose first-phase probes were read (every key, also
    the ones a two-phase scan yields no record for). ``start_at`` holds the cursor to start a
    DB from (a resumed scan); ``cursors`` where each DB's scan stands (None: finished).
    """

    def __init__(
        self,
        client_for_db: Callable[[int], redis.Redis],
        idle_metric: IdleMetric,
        options: ScanOptions,
        progress: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        plans: Mapping[int, ProbePlan] | None = None,
    ) -> None:
        self._client_for_db = client_for_db
        self._idle_metric = idle_metric
        self._options = options
        self._progress = progress
        self._packer = ProbePacker(idle_metric, options.samples)
        self._clock = clock
        self._sleep = sleep
        self._plans = dict(plans or {})
        self.cpu_budget: CpuBudgetController | None = None
        self.keys_scanned = 0
        self._requests_read = 0
        self.stop_requested: Callable[[], bool] | None = None
        self.cursors: dict[int, ScanCursor] = {}
        self.start_at: dict[int, ScanCursor] = {}
        self.on_sizes: Callable[[int, list[bytes], list[Any]], None] | None = None

    def scan(self, dbs: Iterable[int]) -> Iterator[list[KeyRecord]]:
        """Yield batches of records for every key in ``dbs``, one DB after the other."""
        for db in dbs:
            if self._stopping():
                return
            yield from self.scan_db(db)

    def _stopping(self) -> bool:
        """A stop was requested, and this scan made progress (at least one request read)."""
        if self.stop_requested is None or not self._requests_read:
            return False
        return self.stop_requested()

    def remaining(self, dbs: Iterable[int]) -> dict[int, int]:
        """After a stopped scan: each unfinished DB of ``dbs`` and the cursor to resume from."""
        left: dict[int, int] = {}
        for db in dbs:
            position = self.cursors.get(db)
            if position is None:
                left[db] = self.start_at[db].cursor or 0 if db in self.start_at else 0
            elif position.cursor is not None:
                left[db] = position.cursor
        return left

    def scan_db(self, db: int) -> Iterator[list[KeyRecord]]:
        """Yield batches of records for every key in logical database ``db``."""
        client = self._client_for_db(db)
        if type(self).probe is not KeyspaceScanner.probe:
            yield from self._scan_batch_by_batch(client, db)
        else:
            yield from self._scan_pipelined(client, db)

    def probe(self, client: redis.Redis, db: int, keys: list[bytes]) -> list[KeyRecord]:
        """Probe ``keys`` in one pipelined round trip; vanished keys are left out."""
        with RawConnection(client) as wire:
            wire.send(self._packer.pack(keys), PROBES_PER_KEY * len(keys))
            replies = wire.read(PROBES_PER_KEY * len(keys))
        return decode_probes(db, keys, replies, self._idle_metric)

    def _batch_done(self, keys: int) -> None:
        self._requests_read += 1
        self.keys_scanned += keys
        if self._progress is not None:
            self._progress(keys)
        if self._options.pause_seconds:
            self._sleep(self._options.pause_seconds)

    def _controller(self) -> CpuBudgetController | None:
        """The pacing controller: for a CPU budget, or to learn the cost a bound needs."""
        options = self._options
        bounded = options.max_batch_server_time > 0
        if self.cpu_budget is None and (bounded or options.max_server_cpu is not None):
            self.cpu_budget = CpuBudgetController(
                options.max_server_cpu or 1.0,
                max_count=WINDOW_MAX_KEYS if bounded else options.count,
                cycle_seconds=WINDOW_SECONDS if bounded else 0.02,
            )
        return self.cpu_budget

    def _keys_per_request(self) -> int:
        options, pacing = self._options, self.cpu_budget
        if options.max_batch_server_time <= 0:
            return pacing.count if pacing is not None else options.count
        cost = (pacing.cost_per_key if pacing is not None else None) or INITIAL_COST_PER_KEY
        wanted = int(options.max_batch_server_time / cost)
        return min(options.count, max(MIN_KEYS_PER_REQUEST, wanted))

    def _scan_pipelined(self, client: redis.Redis, db: int) -> Iterator[list[KeyRecord]]:
        """SCAN + probes pipelined; paced in windows when a budget or a bound is set."""
        options = self._options
        probes = ProbeSet(db, self._idle_metric, options.samples, self._plans.get(db, ProbePlan()))
        pacing = self._controller()
        sampler = ServerSampler(client) if pacing is not None else None
        position = self.start_at.pop(db, None) or ScanCursor()
        self.cursors[db] = position
        with RawConnection(client) as wire:
            pipeline = ProbePipeline(
                wire,
                probes,
                (options.match, options.type, options.keep),
                self._keys_per_request,
                position,
                self._size_sink(db),
            )
            try:
                while pipeline.has_work():
                    if self._stopping():
                        pipeline.stop_scanning = True  # probe what SCAN returned, then stop
                    window = None
                    first_key = pipeline.keys_sent
                    if pacing is not None and sampler is not None:
                        self._sleep(pacing.delay(self._clock()))
                        pacing.batch_started(self._clock(), sampler.read())
                        window = _window_end(pipeline, first_key, pacing, self._stopping)
                    elif self.stop_requested is not None:
                        window = self._stop_check(pipeline)
                    for records, sized in pipeline.run(window):
                        if records or sized:
                            yield records
                        self._batch_done(sized)
                    if pacing is not None and sampler is not None:
                        pacing.batch_finished(
                            self._clock(), sampler.read(), pipeline.keys_sent - first_key
                        )
            finally:
                probes.flush()  # counts folded straight into the aggregates, still pending

    def _stop_check(self, pipeline: ProbePipeline) -> Callable[[], bool]:
        """An unpaced scan's window: it ends when a stop is requested (checked every 100 ms)."""
        next_check = [self._clock() + 0.1]

        def ended() -> bool:
            if pipeline.stop_scanning or self._clock() < next_check[0]:
                return False
            next_check[0] = self._clock() + 0.1
            return self._stopping()

        return ended

    def _size_sink(self, db: int) -> Callable[[list[bytes], list[Any]], None] | None:
        """``on_sizes`` bound to ``db``: sees every key's size reply in a two-phase scan."""
        on_sizes = self.on_sizes
        if on_sizes is None:
            return None
        return lambda keys, sizes: on_sizes(db, keys, sizes)

    def _scan_batch_by_batch(self, client: redis.Redis, db: int) -> Iterator[list[KeyRecord]]:
        """The plain loop: SCAN, then ``self.probe`` on the keys, one batch at a time."""
        cursor = 0
        while True:
            cursor, keys = client.scan(
                cursor=cursor,
                match=self._options.match,
                count=self._options.count,
                _type=self._options.type,
            )
            if keys:
                yield self.probe(client, db, cast(list[bytes], keys))
                self._batch_done(len(keys))
            if cursor == 0:
                return


def _window_end(
    pipeline: ProbePipeline,
    first_key: int,
    pacing: CpuBudgetController,
    stopping: Callable[[], bool],
) -> Callable[[], bool]:
    """A window ends once it sent the keys the pacing asked for (or a stop is requested)."""

    def ended() -> bool:
        if pipeline.keys_sent - first_key >= pacing.count:
            return True
        return not pipeline.stop_scanning and stopping()

    return ended


_gc_pauses = 0
_gc_was_enabled = False
_gc_lock = threading.Lock()


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around a scan's consuming loop.

    A scan allocates millions of short-lived records; the collector's passes over them cost
    about 15 % of the client's CPU and find nothing (records hold no reference cycles, so
    reference counting frees them). The collector is process-wide, so pauses are counted:
    scans side by side (one per thread) switch it back on, if it was on, when the last ends.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()
