"""The service with an injected cycle: the contract the real ``run`` cycle plugs into."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from janitor.adapters.prometheus import PassMetrics
from janitor.adapters.sdnotify import Notifier
from janitor.app.context import AppContext
from janitor.app.scheduled_cycle import CycleResult
from janitor.app.serve import Schedule, Service
from janitor.config.settings import load_settings
from janitor.core.errors import ConfigError
from tests.support.notify import NotifyListener
from tests.support.redis_server import RedisServer, wait_for


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("restore_signals")
def test_sigterm_lets_the_action_in_flight_finish(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = load_settings(None, {"redis": {"urls": [redis_server.url]}}, environ={})
    app = AppContext(settings=settings, run_id="test", fmt="json")
    listener = NotifyListener(tmp_path / "notify.sock")
    steps: list[str] = []
    action_started, release_action = threading.Event(), threading.Event()

    def cycle(_: AppContext, stop: threading.Event) -> CycleResult:
        steps.append("action started")
        action_started.set()
        release_action.wait(timeout=20)  # an archive+delete that takes its time
        steps.append(f"action finished, stop flag {stop.is_set()}")
        return CycleResult([PassMetrics("redis://x", 1.0, 0.5, True, acted_keys={"delete": 1})])

    def operator() -> None:
        try:
            action_started.wait(timeout=20)
            os.kill(os.getpid(), signal.SIGTERM)
            listener.wait_until(lambda: listener.count("STOPPING=1") == 1, what="STOPPING=1")
            steps.append("STOPPING=1 sent")
        finally:
            release_action.set()

    helper = threading.Thread(target=operator)
    helper.start()
    textfile = tmp_path / "janitor.prom"
    notifier = Notifier({"NOTIFY_SOCKET": listener.env_value})
    service = Service(app, cycle, Schedule(None, 3600, 0), textfile, notifier)

    exit_code = service.run()
    steps.append("service returned")

    helper.join()
    listener.close()
    assert exit_code == 0
    assert steps == [
        "action started",
        "STOPPING=1 sent",
        "action finished, stop flag True",
        "service returned",
    ]
    series = 'redis_janitor_acted_keys{action="delete",instance="redis://x",role="",shard=""} 1.0'
    assert series in textfile.read_text()  # the cycle that was stopped still published its metrics


def test_schedule_precedence() -> None:
    settings = load_settings(
        None, {"service": {"cron": "*/5 * * * *", "every": "10m", "jitter": "30s"}}, environ={}
    )
    assert Schedule.from_settings(settings).describe() == "cron '*/5 * * * *'"
    assert Schedule.from_settings(settings, every_override=60).describe() == "every 60s"
    assert Schedule.from_settings(settings).trigger().jitter == 30
    default = Schedule.from_settings(load_settings(None, {}, environ={}))
    assert default.describe() == "every 900s"


def test_a_bad_cron_expression_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"service\.cron"):
        Schedule("61 * * * *", 900, 0).trigger()
    with pytest.raises(ConfigError, match="5 fields"):
        load_settings(None, {"service": {"cron": "* * *"}}, environ={})


def test_watchdog_follows_systemd(
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_signals: None,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    settings = load_settings(None, {"redis": {"urls": [redis_server.url]}}, environ={})
    app = AppContext(settings=settings, run_id="test", fmt="json")
    listener = NotifyListener(tmp_path / "notify.sock")

    def cycle(_: AppContext, __: threading.Event) -> CycleResult:
        return CycleResult()

    def stop_after_pings() -> None:
        try:
            wait_for(lambda: listener.count("WATCHDOG=1") >= 3, what="3 watchdog pings")
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=stop_after_pings)
    helper.start()
    notifier = Notifier({"NOTIFY_SOCKET": listener.env_value})
    assert Service(app, cycle, Schedule(None, 3600, 0), None, notifier).run() == 0
    helper.join()
    listener.close()
    assert listener.count("WATCHDOG=1") >= 3
    assert listener.messages[0].startswith("READY=1")
