"""What a save copies before any save under writes has been seen: where writes land (pure).

An overwrite of an existing key writes in two places. Its index entry (the dict entry and bucket,
the value's object header, the key: about ``INDEX_BYTES_PER_KEY`` per key, all keys' entries packed
together in small allocation classes) takes ``INDEX_PAGES_PER_WRITE`` pages of an index pool of
``keys x INDEX_BYTES_PER_KEY``, and its new value one page (plus the pages of a payload larger than
a page) of the data pool, the rest of the resident set. Each pool saturates on its own (a page is
copied once), so the small index is copied whole after a few writes per index page while the data
pool grows with the writes. On the bench's 1.5M keys x 400 B (docs/domain.md §5) this shape, with
the real durations, lands within ±25 % of 30 of 30 random-key saves from 10k to 680k writes; a
single pool at RSS, at any one pages-per-write figure, cannot follow both ends. Without a key
count the prior is one pool, the resident set, at ``SINGLE_POOL_PAGES_PER_WRITE``. Pages are 2 MiB
under transparent huge pages. See docs/domain.md §5 (copy-on-write of a save, measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INDEX_BYTES_PER_KEY = 64
"""A dict entry (24 B) and its bucket (8 B), the object header (16 B), the key (~16 B)."""
INDEX_PAGES_PER_WRITE = 3.0
DATA_PAGES_PER_WRITE = 1.0
SINGLE_POOL_PAGES_PER_WRITE = 3.0
BUCKET_BYTES = 8


@dataclass(frozen=True)
class WritePools:
    """The memory writes land in: an index pool and a data pool, and the page unit."""

    index_bytes: float
    data_bytes: float
    unit: int
    index_pages: float
    data_pages: float

    def copied(self, writes: float) -> float:
        """Bytes a child running for ``writes`` writes would copy (each pool saturating)."""
        return _saturating(self.index_bytes, self.index_pages * self.unit * writes) + _saturating(
            self.data_bytes, self.data_pages * self.unit * writes
        )

    def describe(self) -> str:
        """One reason line: the pools and pages per write."""
        if not self.index_bytes:
            return (
                f"no save under writes observed yet: prior of {self.data_pages:.1f} pages of "
                f"{self.unit} B per write, saturating at RSS"
            )
        return (
            f"no save under writes observed yet: prior of {self.index_pages:.0f} pages of "
            f"{self.unit} B per write in a {self.index_bytes / 2**20:.0f} MiB key index "
            f"({INDEX_BYTES_PER_KEY} B per key) and {self.data_pages:.1f} in the "
            f"{self.data_bytes / 2**20:.0f} MiB of data, each saturating"
        )


def write_pools(
    resident: int, keys: int | None, unit: int, payload_pages: float = 0.0
) -> WritePools:
    """The prior's pools for a resident set of ``resident`` bytes holding ``keys`` keys (None:
    unknown, one pool); ``payload_pages`` are the extra pages of a write larger than a page."""
    if not keys:
        return WritePools(
            0.0, float(resident), unit, 0.0, SINGLE_POOL_PAGES_PER_WRITE + payload_pages
        )
    index = min(float(keys * INDEX_BYTES_PER_KEY), float(resident))
    return WritePools(
        index, resident - index, unit, INDEX_PAGES_PER_WRITE, DATA_PAGES_PER_WRITE + payload_pages
    )


def inserts_copied(keys: int | None, inserts: float, unit: int) -> float:
    """Bytes a child copies while ``inserts`` new keys are added: each lands in memory allocated
    after the fork, which the child never shares, and dirties one bucket of the key table (a
    power of two of 8 B buckets, at least one per key), so the table is copied whole after a few
    inserts per page."""
    if not keys or inserts <= 0:
        return 0.0
    table = BUCKET_BYTES * (1 << max(keys - 1, 1).bit_length())
    return _saturating(float(table), unit * inserts)


def _saturating(pool: float, dirtied: float) -> float:
    """Distinct bytes of ``pool`` covered by ``dirtied`` bytes of writes at random pages."""
    if pool <= 0 or dirtied <= 0:
        return 0.0
    return pool * (1 - math.exp(-dirtied / pool))
