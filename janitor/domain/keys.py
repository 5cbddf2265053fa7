"""What a scan learns about one key: the record every later step (policy, planner, report) reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the scan learned about one key; ``key`` is the exact bytes."""

    db: int
    key: bytes
    type: str
    size_bytes: int
    idle_seconds: int | None
    freq: int | None
    ttl_ms: int | None

    @property
    def ttl_seconds(self) -> float | None:
        """Remaining time to live in seconds, or None when the key does not expire."""
        return None if self.ttl_ms is None else self.ttl_ms / 1000


def fast_key_record_constructor() -> Callable[..., KeyRecord]:
    """Return a KeyRecord constructor about twice as fast as the frozen dataclass's ``__init__``.

    It fills the slots directly, in field order, with no validation: only for the decoder's hot
    loop, which passes exactly the seven fields.
    """
    setters = [getattr(KeyRecord, field.name).__set__ for field in fields(KeyRecord)]
    set_db, set_key, set_type, set_size, set_idle, set_freq, set_ttl = setters
    allocate = object.__new__

    def construct(
        db: int,
        key: bytes,
        type_name: str,
        size_bytes: int,
        idle_seconds: int | None,
        freq: int | None,
        ttl_ms: int | None,
    ) -> KeyRecord:
        record: KeyRecord = allocate(KeyRecord)
        set_db(record, db)
        set_key(record, key)
        set_type(record, type_name)
        set_size(record, size_bytes)
        set_idle(record, idle_seconds)
        set_freq(record, freq)
        set_ttl(record, ttl_ms)
        return record

    return construct
