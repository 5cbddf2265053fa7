"""``redis-janitor serve``: an APScheduler BlockingScheduler running the cycle under systemd.

Start-up: wait (with backoff) until Redis answers, then ``READY=1`` and the first cycle at once;
later cycles follow the ``[service]`` schedule, never overlapping (max_instances=1, coalesce).
``WATCHDOG=1`` is a scheduler job of its own, so a ping proves the scheduler still dispatches.
First SIGTERM/SIGINT: ``STOPPING=1``, set the cycle's stop flag, let the action in flight finish,
exit 0. A second one exits at once (128 + signal). A cycle that finds Redis unreachable is retried
sooner than its schedule, with doubling waits capped at ``service.retry_max_backoff``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import structlog
from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from janitor.adapters.prometheus import (
    MetricsStore,
    publish_textfile,
    read_last_success,
    serve_http,
)
from janitor.adapters.redis.connection import redis_errors
from janitor.adapters.sdnotify import Notifier, watchdog_interval
from janitor.app.context import AppContext
from janitor.app.scheduled_cycle import CycleResult, CycleRunner
from janitor.app.topology import expand_targets
from janitor.config.settings import Settings
from janitor.core.errors import (
    ConfigError,
    ExitCode,
    JanitorError,
    RedisUnavailableError,
    WritesRefusedError,
)
from janitor.core.logs import get_logger, new_run_id

log = get_logger(__name__)
FIRST_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Schedule:
    """When cycles run: a crontab expression (UTC) or an interval, plus jitter."""

    cron: str | None
    every_seconds: float
    jitter_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings, every_override: float | None = None) -> Schedule:
        """``--every`` (``every_override``) beats ``service.cron``, which beats ``every``."""
        service = settings.service
        if every_override is not None:
            return cls(None, every_override, service.jitter)
        return cls(service.cron, service.every, service.jitter)

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger for this schedule (ConfigError for a bad cron expression)."""
        jitter = int(self.jitter_seconds) or None
        if self.cron is None:
            return IntervalTrigger(seconds=self.every_seconds, timezone=UTC, jitter=jitter)
        try:
            minute, hour, day, month, day_of_week = self.cron.split()
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week,
                timezone=UTC,
                jitter=jitter,
            )  # what CronTrigger.from_crontab does, plus jitter
        except ValueError as error:
            raise ConfigError([f"service.cron: {self.cron!r}: {error}"]) from None

    def describe(self) -> str:
        """E.g. ``cron '*/15 * * * *'`` or ``every 900s``."""
        return f"cron {self.cron!r}" if self.cron else f"every {self.every_seconds:g}s"


class Service:
    """The daemon: owns the scheduler, the stop flag, notifications and the metrics store."""

    def __init__(
        self,
        app: AppContext,
        runner: CycleRunner,
        schedule: Schedule,
        textfile: Path | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.app = app
        self.runner = runner
        self.schedule = schedule
        self.textfile = textfile
        self.notifier = notifier or Notifier()
        self.stop = threading.Event()
        """Set on the first SIGTERM/SIGINT; the cycle checks it between actions."""
        self.store = MetricsStore()
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1), "watchdog": ThreadPoolExecutor(1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(app.settings.service.misfire_grace)),
            },
        )
        self._idle = threading.Event()
        self._idle.set()
        self._started = threading.Event()
        self._failures = 0

    def run(self) -> int:
        """Serve until stopped; return the exit code (0 after a clean stop)."""
        trigger = self.schedule.trigger()
        install_stop_signals(self.stop)
        if self.textfile is not None:
            for instance, timestamp in read_last_success(self.textfile).items():
                self.store.remember_last_success(instance, timestamp)
        if self.app.settings.metrics.listen:
            serve_http(self.app.settings.metrics.listen, self.store)
            log.info("metrics.http_started", listen=self.app.settings.metrics.listen)
        if not self._wait_for_redis():
            return self._stopped()
        self.scheduler.add_job(
            self._run_cycle, trigger, id="cycle", next_run_time=datetime.now(UTC)
        )
        interval = watchdog_interval(os.environ, os.getpid())
        if interval is not None:
            self.scheduler.add_job(
                self.notifier.watchdog,
                "interval",
                seconds=interval,
                id="watchdog",
                executor="watchdog",
                next_run_time=datetime.now(UTC),
            )
        self.scheduler.add_listener(lambda _: self._started.set(), EVENT_SCHEDULER_STARTED)
        threading.Thread(target=self._stop_when_asked, name="stopper", daemon=True).start()
        if self.stop.is_set():
            return self._stopped()
        self.notifier.ready(f"serving, {self.schedule.describe()}")
        log.info("service.ready", schedule=self.schedule.describe(), watchdog_seconds=interval)
        self.scheduler.start()
        self._idle.wait()
        return self._stopped()

    def _stopped(self) -> int:
        log.info("service.stopped")
        self.notifier.close()
        return ExitCode.OK

    def _stop_when_asked(self) -> None:
        self.stop.wait()
        in_flight = not self._idle.is_set()
        log.info("service.stopping", cycle_in_flight=in_flight)
        self.notifier.stopping("stopping: finishing the action in flight" if in_flight else None)
        self._started.wait()
        self.scheduler.shutdown(wait=False)

    def _wait_for_redis(self) -> bool:
        """Ping every instance until one answers (backoff, logged); False if stopped meanwhile."""
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            answered, failures = _ping_all(self.app.settings)
            if answered:
                return True
            delay = _backoff(attempt, self.app.settings.service.retry_max_backoff)
            for display, error in failures:
                log.warning(
                    "service.redis_unreachable",
                    instance=display,
                    error=error.message,
                    attempt=attempt,
                    retry_in_seconds=delay,
                )
            self.notifier.status(f"waiting for Redis (attempt {attempt}, next in {delay:g}s)")
            self._sleep(delay)
        return False

    def _sleep(self, seconds: float) -> None:
        """Sleep in the main thread, waking early on stop and keeping the watchdog fed."""
        interval = watchdog_interval(os.environ, os.getpid())
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            if interval is not None:
                self.notifier.watchdog()
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _run_cycle(self) -> None:
        """One scheduled cycle: run it, publish metrics, schedule a retry if Redis was down."""
        if self.stop.is_set():
            return
        self._idle.clear()
        self.app.run_id = new_run_id()
        structlog.contextvars.bind_contextvars(run_id=self.app.run_id)
        started = time.monotonic()
        try:
            log.info("cycle.started")
            result = self.runner(self.app, self.stop)
        except JanitorError as error:
            log.error("cycle.failed", exit_code=int(error.exit_code), error=error.message)
            result = CycleResult(exit_code=int(error.exit_code))
        except Exception:
            log.exception("cycle.crashed")
            result = CycleResult(exit_code=ExitCode.CRITICAL)
        finally:
            self._idle.set()
        self._publish(result)
        log.info(
            "cycle.finished",
            exit_code=result.exit_code,
            instances=len(result.metrics),
            duration_seconds=round(time.monotonic() - started, 3),
        )
        self.notifier.status(f"last cycle exit {result.exit_code}; {self.schedule.describe()}")
        self._schedule_retry(result)

    def _publish(self, result: CycleResult) -> None:
        self.store.update(result.metrics)
        if self.textfile is None:
            return
        try:
            publish_textfile(self.textfile, [], self.store)
        except (OSError, JanitorError) as error:
            log.error("metrics.write_failed", path=str(self.textfile), error=str(error))

    def _schedule_retry(self, result: CycleResult) -> None:
        if result.exit_code != ExitCode.UNAVAILABLE:
            self._failures = 0
            return
        self._failures += 1
        delay = _backoff(self._failures, self.app.settings.service.retry_max_backoff)
        job = self.scheduler.get_job("cycle")
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        if job is not None and job.next_run_time is not None and retry_at < job.next_run_time:
            job.modify(next_run_time=retry_at)
        log.warning("cycle.retry_scheduled", attempt=self._failures, retry_in_seconds=delay)


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT: the first sets ``stop`` (the cycle winds down after the action in flight),
    a second one exits at once with 128 + the signal number."""
    received = 0

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Signal context: only set a flag (threads do the rest) or leave without cleanup.
        nonlocal received
        received += 1
        if received > 1:
            os.write(2, b"redis-janitor: second stop signal, exiting at once\n")
            os._exit(128 + signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


def run_once(app: AppContext, runner: CycleRunner, textfile: Path | None = None) -> int:
    """Run one cycle now (``serve --once``, and what ``run`` needs): stop signals handled,
    metrics published; return the cycle's exit code (75 when an instance is locked)."""
    stop = threading.Event()
    install_stop_signals(stop)
    result = runner(app, stop)
    log.info("cycle.finished", exit_code=result.exit_code, instances=len(result.metrics))
    if textfile is not None:
        try:
            publish_textfile(textfile, result.metrics)
        except (OSError, JanitorError) as error:  # the cycle's actions ran: say so, then fail
            message = error.message if isinstance(error, JanitorError) else str(error)
            log.error("metrics.write_failed", path=str(textfile), error=message)
            return max(result.exit_code, ExitCode.CRITICAL)
    return result.exit_code


def _ping_all(settings: Settings) -> tuple[bool, list[tuple[str, JanitorError]]]:
    """Return whether any instance answered PING, and the failures (permission errors raise)."""
    answered = False
    failures: list[tuple[str, JanitorError]] = []
    try:
        targets = expand_targets(settings)
    except RedisUnavailableError as error:  # no sentinel answered
        return False, [("sentinels", error)]
    for target in targets:
        try:
            with redis_errors(target.display):
                answered = bool(target.client(target.url_db or 0).ping()) or answered
        except WritesRefusedError:
            answered = True  # MISCONF answers PING with an error: up, but refusing writes
        except RedisUnavailableError as error:
            failures.append((target.display, error))
        finally:
            target.close()
    return answered, failures


def _backoff(attempt: int, cap: float) -> float:
    return float(min(cap, FIRST_RETRY_SECONDS * 2 ** min(attempt - 1, 30)))
