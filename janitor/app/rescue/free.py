"""The rescue's free step: the real policy machinery, acting a round at a time.

``PolicyFreer`` scans the instance and plans once (the first time it is called), keeping every
candidate the rules pick in score order, with the run caps (``max_keys``, ``max_bytes``) applied
to the whole rescue. Each call then acts on the next candidates — the fewest best-scored ones
whose bytes cover the need (plus the headroom margin), or ``rescue.round_bytes`` when the model
names no need — through ``KeyActor`` (conditional actions, archive before delete, rate limit),
and returns the bytes of the keys actually removed; 0 when the candidates ran out.
``next_batch`` is the pure choice of a round. The scan probes sizes first and the rest only for
keys a rule could pick (as ``run`` does); the keys no rule acts on are tallied for the advice of
a rescue that falls short (``janitor.app.rescue.advice``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from janitor.adapters.files.archive import ArchiveWriter, ensure_private_dir
from janitor.adapters.redis.connection import RedisTarget, redis_errors
from janitor.adapters.redis.info import read_server_info
from janitor.adapters.redis.key_actions import ActionOutcome, KeyActor, needs_archive
from janitor.app.instance_pass import PassOptions, act_all, removed_bytes, wait_until_settled
from janitor.app.inventory import scan_instance
from janitor.app.rescue.advice import LeftoverTally, more_to_free_advice
from janitor.config.policy_settings import PolicySettings
from janitor.config.settings import Settings
from janitor.core.logs import get_logger
from janitor.domain.keys import KeyRecord
from janitor.domain.planner import CandidateCollector, Plan, PlannedAction, make_plan
from janitor.domain.scan_scope import ScanScope, scan_scope
from janitor.domain.server import ServerInfo

log = get_logger(__name__)


def next_batch(
    queue: list[PlannedAction],
    needed_bytes: int,
    policy: PolicySettings,
    round_bytes: int,
    now: float,
) -> list[PlannedAction]:
    """The candidates of one round: the planner's goal "headroom" over what is left.

    ``needed_bytes`` > 0: cover it plus ``policy.headroom_margin_bytes``; 0 (the model names no
    need): cover ``round_bytes``. Caps are not applied again (``queue`` is already capped).
    """
    margin = policy.headroom_margin_bytes if needed_bytes > 0 else 0
    uncapped = policy.model_copy(
        update={"max_keys": 0, "max_bytes": 0, "headroom_margin_bytes": margin}
    )
    target = needed_bytes if needed_bytes > 0 else round_bytes
    return make_plan(queue, uncapped, target, now, "headroom").actions


class PolicyFreer:
    """``free_memory`` for ``rescue_instance``: scan and plan once, act on the next round per call.

    ``outcomes`` holds every action taken (or, in a dry run, planned); ``plan`` the whole
    queue as planned; ``warnings`` what the scan noticed. Call ``close()`` when done.
    """

    def __init__(
        self,
        target: RedisTarget,
        settings: Settings,
        *,
        dry_run: bool,
        run_id: str,
        progress: Callable[[int, int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._target = target
        self._settings = settings
        self._options = PassOptions(
            dry_run=dry_run, run_id=run_id, goal="all", progress=progress, clock=clock
        )
        self._queue: list[PlannedAction] | None = None
        self._actor: KeyActor | None = None
        self._server: ServerInfo | None = None
        self._archive: ArchiveWriter | None = None
        self.plan: Plan | None = None
        self.leftovers: LeftoverTally | None = None
        self.outcomes: list[ActionOutcome] = []
        self.warnings: list[str] = []

    @property
    def archive_file(self) -> str | None:
        """The archive file written by this rescue, if any."""
        path: Path | None = self._archive.path if self._archive is not None else None
        return str(path) if path else None

    def __call__(self, needed_bytes: int) -> int:
        """Act on the next round; return the bytes of keys removed (0: no candidates left).

        A round whose actions removed nothing (keys changed and were skipped, or only TTLs were
        set, which free memory later) is followed by the next one within the same call.
        """
        queue = self._candidates()
        while queue:
            batch = next_batch(
                queue,
                needed_bytes,
                self._settings.policy,
                self._settings.rescue.round_bytes,
                self._options.clock(),
            )
            if not batch:
                return 0
            chosen = {id(item) for item in batch}
            queue[:] = [item for item in queue if id(item) not in chosen]
            outcomes = self._act(batch)
            removed = removed_bytes(outcomes)
            if any(outcome.writes_refused for outcome in outcomes):
                log.error("rescue.writes_refused_while_freeing")
                return removed
            if removed > 0:
                return removed
        return 0

    def scan(self) -> None:
        """Scan and plan now (otherwise the first round does)."""
        self._candidates()

    def preview(self, needed_bytes: int) -> list[ActionOutcome]:
        """Dry run: the first round's actions as ``planned`` outcomes (nothing is sent)."""
        if not self._options.dry_run:
            raise ValueError("preview is for dry runs")
        queue = self._candidates()
        batch = next_batch(
            queue,
            needed_bytes,
            self._settings.policy,
            self._settings.rescue.round_bytes,
            self._options.clock(),
        )
        return self._act(batch)

    def close(self) -> None:
        """Close the archive file (it is durable record by record already)."""
        if self._archive is not None:
            self._archive.close()

    def summary(self) -> dict[str, Any]:
        """The plan's figures and what happened, for the rescue document."""
        return {
            "plan": self.plan.summary() if self.plan is not None else None,
            "results": {
                name: sum(1 for outcome in self.outcomes if outcome.result == name)
                for name in ("done", "skipped", "failed")
            },
            "removed_bytes": removed_bytes(self.outcomes),
            "archive_file": self.archive_file,
            "warnings": self.warnings,
        }

    def advice(self, still_needed_bytes: int | None, include_need: bool = True) -> list[str]:
        """What more must go, and which rule would free it (after a rescue that fell short)."""
        return more_to_free_advice(
            self.plan,
            self.leftovers,
            still_needed_bytes,
            removed_bytes(self.outcomes),
            self._settings.rescue.round_bytes,
            include_need,
        )

    def _candidates(self) -> list[PlannedAction]:
        """Scan once: judge every key (candidates and leftovers), plan every candidate in order.

        Sizes first, like ``run``: idle time, TTL and type only for keys at least as big as the
        smallest ``min_size`` of the acting rules (no smaller key can be a candidate); the
        smaller ones reach the leftover tally by size. Every key is sized (no SCAN MATCH/TYPE
        narrowing): the advice counts the keys no rule acts on.
        """
        if self._queue is None:
            policy = self._settings.policy
            collector = CandidateCollector(policy)
            floor = scan_scope(policy).min_size
            leftovers = self.leftovers = LeftoverTally(policy, floor)

            def offer(record: KeyRecord) -> None:
                collector.offer(record)
                leftovers.offer(record)

            scan = scan_instance(
                self._target,
                self._settings,
                self._options.progress,
                offer,
                ScanScope(min_size=floor, match=None, type=None) if floor is not None else None,
                on_sizes=leftovers.offer_sizes if floor is not None else None,
            )
            self.warnings.extend(scan.warnings)
            if collector.dropped:
                self.warnings.append(f"{collector.dropped} candidates over max_candidates ignored")
            self.plan = make_plan(collector.candidates(), policy, 0, self._options.clock(), "all")
            self._queue = list(self.plan.actions)
            log.info("rescue.candidates", size_floor=floor, **self.plan.summary())
        return self._queue

    def _act(self, batch: list[PlannedAction]) -> list[ActionOutcome]:
        actor = self._key_actor(batch)
        plan = Plan("headroom", 0, 0, self._options.clock(), actions=batch)
        outcomes = act_all(actor, plan, self._settings.policy.actions_per_second, self._options)
        self.outcomes.extend(outcomes)
        if removed_bytes(outcomes) and not wait_until_settled(
            self._target, self._settings.policy.settle_timeout
        ):
            self.warnings.append("the allocator did not settle in time after a round")
        return outcomes

    def _key_actor(self, batch: list[PlannedAction]) -> KeyActor:
        if self._server is None:
            with redis_errors(self._target.display):
                self._server = read_server_info(self._target.client(self._target.url_db or 0))
        archive = self._settings.archive
        archive_needed = needs_archive(batch, self._server, lfu_safety_copy=archive.lfu_safety_copy)
        if archive_needed and self._archive is None and not self._options.dry_run:
            ensure_private_dir(archive.dir)
            self._archive = ArchiveWriter(
                archive.dir,
                self._options.run_id,
                self._target.display,
                archive.compression_level,
            )
            self._actor = None  # the actor must see the archive
        if self._actor is None:
            self._actor = KeyActor(
                self._target,
                self._server,
                self._archive,
                archive.max_payload_bytes,
                self._settings.scan.samples,
                clock=self._options.clock,
                lfu_safety_copy=archive.lfu_safety_copy,
            )
        return self._actor
