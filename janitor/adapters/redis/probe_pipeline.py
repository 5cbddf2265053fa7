"""The scanner's request loop: SCAN and probes pipelined on one raw connection, bounded per request.

Each request is one buffer: ``SCAN <cursor>`` (when keys are needed), the first-phase probes of
keys the previous SCAN returned and, in a two-phase scan, the second-phase probes of the big
keys the previous replies revealed. ``keys_per_request`` (asked before every request) bounds a
request's keys, and so how long it holds Redis; ``depth`` is how many requests may be in flight:
1 keeps the bound (Redis reads a client's pipelined requests together, so two in flight can hold
it twice as long), 2 keeps Redis busy while the caller decodes (full speed). With depth 1 the
next request still goes out before the current replies are decoded. ``window`` (when given)
ends a paced window: no request is sent once it returns True until everything in flight is
read, then ``window_done()`` is called (the pacing samples the server and sleeps there).
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
    scan_read: bool = False
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
        scan_args: tuple[bytes | None, str | None],
        keys_per_request: Callable[[], int],
        depth: int,
        start: ScanCursor | None = None,
    ) -> None:
        self._wire = wire
        self._probes = probes
        self._match, self._type = scan_args
        self._keys_per_request = keys_per_request
        self._depth = depth
        self.position = start or ScanCursor()
        self._queued: list[bytes] = []
        self._big: list[tuple[bytes, Any]] = []
        self._in_flight: deque[_Request] = deque()
        self._scan_in_flight = False
        self.keys_sent = 0

    def has_work(self) -> bool:
        """True while keys remain to be scanned or probed."""
        return bool(self.position.cursor is not None or self._queued or self._big)

    def idle(self) -> bool:
        """True when nothing is in flight (a safe point to sample, pause or stop)."""
        return not self._in_flight

    def _send(self) -> None:
        limit = max(1, self._keys_per_request())
        first, self._queued = self._queued[:limit], self._queued[limit:]
        meta, self._big = self._big[:limit], self._big[limit:]
        cursor = self.position.cursor
        scans = cursor is not None and not self._scan_in_flight and len(self._queued) < limit
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
            if head.scans and not head.scan_read:
                cursor, keys = scan_reply(self._wire.read(1)[0])
                head.scan_read = True
                self._scan_in_flight = False
                self._queued += keys
                self.position.cursor = cursor or None
            open_window = window is None or not window()
            if len(self._in_flight) < self._depth and open_window and self.has_work():
                self._send()
            replies = self._wire.read(head.replies - head.scans)
            self._in_flight.popleft()
            first_count = probes.first_per_key * len(head.first)
            first, meta = replies[:first_count], replies[first_count:]
            if probes.two_phase and head.first:
                self._big += probes.big_keys(head.first, first)
            if not self._in_flight and open_window and self.has_work():
                self._send()  # depth 1: on the wire before this request's replies are decoded
            if probes.two_phase:
                records = probes.meta_records(head.meta, meta) if head.meta else []
            else:
                records = probes.first_records(head.first, first) if head.first else []
            yield records, len(head.first)


def meta_keys(items: list[tuple[bytes, Any]]) -> list[bytes]:
    """The keys of (key, size) items."""
    return [key for key, _ in items]
