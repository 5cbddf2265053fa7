"""The scanner's request loop: SCAN and probes pipelined on one raw connection, bounded per request.

Each request is one buffer: ``SCAN <cursor>`` (when keys are needed), the first-phase probes of
keys the previous SCAN returned and, in a two-phase scan, the second-phase probes of the big
keys the previous replies revealed. ``keys_per_request`` (asked before every request) bounds a
request's keys, and so how long it holds Redis. The next request goes out as soon as the first
reply of the current one is in (Redis has run all of it then), before the rest is decoded: Redis
never has two of the scan's requests to run back to back (it reads a client's pipelined
requests together, which would hold it twice as long), yet rarely waits for the client.
``window`` (when given) ends a paced window: once it returns True no request is sent and
``run`` returns when everything in flight is read (the pacing then samples the server).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from janitor.adapters.redis.probe_sets import ProbeSet
from janitor.adapters.redis.probes import pack_scan, scan_reply
from janitor.adapters.redis.resp import RawConnection
from janitor.domain.keys import KeyRecord


@dataclass
class _Request:
    scans: bool
    first: list[bytes]
    meta: list[tuple[bytes, Any]]
    replies: int = field(default=0)


@dataclass
class ScanCursor:
    """Where a DB's scan stands: the next cursor (None: SCAN is finished)."""

    cursor: int | None = 0


class ProbePipeline:
    """Runs one DB's scan on ``wire`` and yields (records, keys whose size was read)."""

    def __init__(
        self,
        wire: RawConnection,
        probes: ProbeSet,
        scan_args: tuple[bytes | None, str | None, Callable[[bytes], bool] | None],
        keys_per_request: Callable[[], int],
        start: ScanCursor | None = None,
        on_sizes: Callable[[list[bytes], list[Any]], None] | None = None,
    ) -> None:
        self._wire = wire
        self._probes = probes
        self._match, self._type, self._keep = scan_args
        self._keys_per_request = keys_per_request
        self.position = start or ScanCursor()
        self._queued: list[bytes] = []
        self._big: list[tuple[bytes, Any]] = []
        self._in_flight: deque[_Request] = deque()
        self._on_sizes = on_sizes
        self._scan_in_flight = False
        self.keys_sent = 0
        self.stop_scanning = False
        """Set to stop early: no new SCAN, but keys already returned are still probed."""

    def has_work(self) -> bool:
        """True while keys remain to be scanned or probed."""
        scanning = self.position.cursor is not None and not self.stop_scanning
        return bool(scanning or self._queued or self._big)

    def idle(self) -> bool:
        """True when nothing is in flight (a safe point to sample, pause or stop)."""
        return not self._in_flight

    def _send(self) -> None:
        limit = max(1, self._keys_per_request())
        first, self._queued = self._queued[:limit], self._queued[limit:]
        meta, self._big = self._big[:limit], self._big[limit:]
        cursor = self.position.cursor
        scans = (
            cursor is not None
            and not self.stop_scanning
            and not self._scan_in_flight
            and len(self._queued) < limit
        )
        probes = self._probes
        buffer = (
            pack_scan(cursor, limit, self._match, self._type)
            if scans and cursor is not None
            else b""
        )
        if first:
            buffer += probes.pack_first(first)
        if meta:
            buffer += probes.pack_meta(meta_keys(meta))
        replies = scans + probes.first_per_key * len(first) + probes.meta_per_key * len(meta)
        if not replies:
            return
        request = _Request(scans, first, meta, replies=replies)
        self._scan_in_flight |= scans
        self._wire.send(buffer, replies)
        self._in_flight.append(request)
        self.keys_sent += len(first)

    def run(
        self, window: Callable[[], bool] | None = None
    ) -> Iterator[tuple[list[KeyRecord], int]]:
        """Yield (records, keys sized) after every request until the window ends or work is done."""
        probes = self._probes
        while True:
            if not self._in_flight:
                if not self.has_work() or (window is not None and window()):
                    return
                self._send()
                if not self._in_flight:
                    return
            head = self._in_flight[0]
            if head.scans:
                cursor, keys = scan_reply(self._wire.read(1)[0])
                self._scan_in_flight = False
                keep = self._keep
                self._queued += keys if keep is None else [key for key in keys if keep(key)]
                self.position.cursor = cursor or None
                replies = []
            else:
                replies = self._wire.read(1)
            # Redis writes a request's replies once it has run all of it: the first reply in
            # hand means Redis is done with ``head``, so the next request never queues behind
            # it (one request at a time in the server) while this one is decoded.
            if len(self._in_flight) == 1 and (window is None or not window()) and self.has_work():
                self._send()
            replies += self._wire.read(head.replies - 1)
            self._in_flight.popleft()
            first_count = probes.first_per_key * len(head.first)
            first, meta = replies[:first_count], replies[first_count:]
            if probes.two_phase and head.first:
                if self._on_sizes is not None:
                    self._on_sizes(head.first, first)
                self._big += probes.big_keys(head.first, first)
            if probes.two_phase:
                records = probes.meta_records(head.meta, meta) if head.meta else []
            else:
                records = probes.first_records(head.first, first) if head.first else []
            yield records, len(head.first)


def meta_keys(items: list[tuple[bytes, Any]]) -> list[bytes]:
    """The keys of (key, size) items."""
    return [key for key, _ in items]
