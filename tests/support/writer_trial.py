"""The concurrent-writer trial: a writer changes judged keys between judgment and action.

Keys are planted stale (LRU: idle 40 days; LFU: counter 50), a ``run`` pass judges them, and
through the actor's hooks a writer overwrites, appends to or expires each key *after the plan
was made* — right before its check (``before_check``) or, for some, between the archive DUMP and
the UNLINK (``before_unlink``). A write survives when Redis still holds it (without a TTL the
janitor gave it) or the archive holds it. Used by the tests and by bench/writer_trial.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import redis

from janitor.adapters.files.archive import ArchiveReader, archive_files
from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.key_actions import ActionHooks
from janitor.app.instance_pass import PassOptions, run_pass
from janitor.config.settings import load_settings
from janitor.domain.planner import PlannedAction
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

DAY = 86400
JANITOR_TTL_MS = DAY * 1000
WRITER_TTL_MS = 3_600_000
SCRATCH = b"__trial_scratch__"
POLICIES = {"lru": "allkeys-lru", "lfu": "allkeys-lfu"}


@dataclass
class TrialResult:
    """How many writes the writer made and how many of them were lost."""

    writes: int = 0
    lost: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)


class _Writer:
    """Writes to each judged key as the janitor reaches it; remembers what it wrote."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.expected: dict[bytes, tuple[bytes, bool]] = {}
        """key → (value it must hold, whether the writer gave it a TTL)."""

    def write(self, item: PlannedAction) -> None:
        key = item.record.key
        kind = int(key.rsplit(b":", 1)[1]) % 3
        if kind == 0:  # overwrite with a value of the same size
            value = (b"W" + key).ljust(len(self.client.get(key) or b""), b"w")
            self.client.set(key, value, keepttl=True)
        elif kind == 1:  # a small append
            self.client.append(key, b"+")
        else:  # the writer sets its own TTL
            self.client.pexpire(key, WRITER_TTL_MS)
        value = self.client.get(key) or b""
        self.expected[key] = (value, kind == 2)

    def before_unlink(self, item: PlannedAction) -> None:
        """A second write inside the window between the archive DUMP and the UNLINK."""
        if int(item.record.key.rsplit(b":", 1)[1]) % 2 == 0:
            self.client.append(item.record.key, b"!")
            self.expected[item.record.key] = (self.client.get(item.record.key) or b"", False)
            ttl = self.client.pttl(item.record.key)
            self.expected[item.record.key] = (self.expected[item.record.key][0], ttl > 0)


def _archived(client: redis.Redis, archive_dir: Path) -> dict[bytes, tuple[bytes, bool]]:
    """Newest archived value and whether it had an expiry, per key (restored into a scratch key)."""
    found: dict[bytes, tuple[bytes, bool]] = {}
    if not archive_dir.exists():
        return found
    for path in archive_files(archive_dir):
        for record in ArchiveReader(path):
            client.restore(SCRATCH, 0, record.payload, replace=True)
            found[record.key] = (client.get(SCRATCH) or b"", record.expire_at_ms is not None)
    client.delete(SCRATCH)
    return found


def run_trial(
    server: RedisServer,
    action: str,
    archive_dir: Path,
    *,
    lfu: bool,
    keys: int = 12,
    lfu_safety_copy: bool = True,
    run_id: str = "trial",
) -> TrialResult:
    """Plant ``keys`` stale keys, run one pass acting with ``action`` while the writer writes."""
    client = server.client()
    client.flushall()
    server.client().config_set("maxmemory-policy", POLICIES["lfu" if lfu else "lru"])
    for index in range(keys):
        staleness = {"freq": 50} if lfu else {"idle_seconds": 40 * DAY}
        plant(client, f"trial:{index}", size=2000, **staleness)  # type: ignore[arg-type]
    rule = {
        "name": "stale",
        "action": action,
        **({"max_freq": 100} if lfu else {"min_idle": "30d"}),
    }
    if action == "expire":
        rule["expire_in"] = "1d"
    overrides = {
        "redis": {"urls": [server.url]},
        "archive": {"dir": str(archive_dir), "lfu_safety_copy": lfu_safety_copy},
        "policy": {"goal": "all", "settle_timeout": 2, "memory_purge": False, "rules": [rule]},
    }
    settings = load_settings(None, overrides=overrides, environ={})
    writer = _Writer(server.client())
    hooks = ActionHooks(before_check=writer.write, before_unlink=writer.before_unlink)
    target = RedisTarget(server.url, settings)
    try:
        result = run_pass(target, settings, PassOptions(False, run_id, hooks=hooks))
    finally:
        target.close()
    trial = TrialResult(writes=len(writer.expected))
    for outcome in result.outcomes:
        trial.outcomes[outcome.result] = trial.outcomes.get(outcome.result, 0) + 1
    archived = _archived(client, archive_dir)
    for key, (value, writer_ttl) in writer.expected.items():
        in_redis = client.get(key) == value
        ttl = client.pttl(key)
        untouched_ttl = (0 < ttl <= WRITER_TTL_MS) if writer_ttl else ttl == -1
        if in_redis and untouched_ttl:
            continue
        if archived.get(key, (None, False))[0] == value:
            continue
        trial.lost.append(key.decode())
    return trial
