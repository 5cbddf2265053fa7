"""Several local instances scanned side by side, within one budget for the janitor's CPU.

A bounded thread pool (``scan.parallel_instances`` workers) runs one instance's scan per
worker; every worker's progress callback asks a shared ``ClientCpuPacer``
(``scan.max_client_cpu`` cores, process-wide) whether to pause. Each scan keeps its own
Redis-side limits (``max_server_cpu``, ``max_batch_server_time``): those are per server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.inventory import InstanceScan, scan_instance
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError
from janitor.domain.client_budget import ClientCpuPacer

Outcome = InstanceScan | JanitorError


def scan_instances(
    targets: Sequence[RedisTarget],
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
) -> list[tuple[RedisTarget, Outcome]]:
    """Scan every target (in order of ``targets`` in the result); failures are kept per target."""
    pacer = ClientCpuPacer(settings.scan.max_client_cpu)

    def pace(_done: int, _total: int) -> None:
        sleep(pacer.delay(time.monotonic(), time.process_time()))

    def scan_one(target: RedisTarget) -> Outcome:
        structlog.contextvars.bind_contextvars(instance=target.display)
        try:
            return scan_instance(target, settings, pace)
        except JanitorError as error:
            return error
        finally:
            target.close()

    workers = max(1, min(settings.scan.parallel_instances, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
        outcomes = list(pool.map(scan_one, targets))
    return list(zip(targets, outcomes, strict=True))
