"""``redis-janitor serve`` as systemd runs it: a real notify socket, real signals, real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.conftest import CLI, RedisFactory, clean_env
from tests.support.keys import plant
from tests.support.notify import NotifyListener
from tests.support.redis_server import RedisServer, free_port, wait_for

LOCK_KEY = b"redis-janitor:lock"


@dataclass
class Daemon:
    """A running ``redis-janitor serve`` with its notify socket and its log file."""

    process: subprocess.Popen[bytes]
    notify: NotifyListener
    log_path: Path

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.startswith("{")]
        return [event for event in parsed if name is None or event["event"] == name]

    def wait_exit(self, timeout: float = 20) -> int:
        return self.process.wait(timeout=timeout)


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Any]:
    daemons: list[Daemon] = []

    def start(*args: str, env: Mapping[str, str] | None = None) -> Daemon:
        index = len(daemons)
        notify = NotifyListener(tmp_path / f"notify-{index}.sock")
        log_path = tmp_path / f"serve-{index}.log"
        environment = {
            "NOTIFY_SOCKET": notify.env_value,
            "WATCHDOG_USEC": "600000",  # a ping every 0.3 s
            "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
            **(env or {}),
        }
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [CLI, "serve", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                env=clean_env(environment),
                cwd=tmp_path,
            )
        daemon = Daemon(process, notify, log_path)
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(timeout=10)
        daemon.notify.close()


def test_serve_notifies_runs_on_schedule_and_stops_cleanly(
    redis_server: RedisServer, start_serve: Any, tmp_path: Path
) -> None:
    metrics_path = tmp_path / "metrics" / "janitor.prom"
    port = free_port()
    daemon = start_serve(
        "--url", redis_server.url, "--every", "1s", "--metrics-textfile", str(metrics_path),
        env={"JANITOR_METRICS__LISTEN": f"127.0.0.1:{port}"},
    )  # fmt: skip

    daemon.notify.wait_until(lambda: daemon.notify.count("READY=1") == 1, what="READY=1")
    wait_for(lambda: len(daemon.events("cycle.finished")) >= 3, timeout=20, what="3 cycles")
    daemon.notify.wait_until(lambda: daemon.notify.count("WATCHDOG=1") >= 3, what="watchdog")
    assert all(event["exit_code"] == 0 for event in daemon.events("cycle.finished"))
    assert "redis_janitor_scanned_keys" in metrics_path.read_text()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert "redis_janitor_last_success_timestamp_seconds" in response.read().decode()

    daemon.process.send_signal(signal.SIGTERM)

    assert daemon.wait_exit() == 0
    assert daemon.notify.count("STOPPING=1") == 1
    assert daemon.events("service.stopped")
    ready_index = next(i for i, m in enumerate(daemon.notify.messages) if "READY=1" in m)
    assert ready_index == 0  # nothing claimed readiness before Redis answered
    assert redis_server.client().exists(LOCK_KEY) == 0


def slow_scan_env() -> dict[str, str]:
    """A slow scan of every key: goal "all" with a rule that matches none of them."""
    return {
        "JANITOR_SCAN__COUNT": "1",
        "JANITOR_SCAN__PAUSE": "0.1",
        "JANITOR_POLICY__GOAL": "all",
        # Every key is probed (no SCAN MATCH, no size floor) and none is ten years idle.
        "JANITOR_POLICY__RULES": '[{"name": "none", "min_idle": "3650d", "action": "delete"}]',
    }


def plant_keys(server: RedisServer, count: int) -> None:
    server.client().mset({f"key:{index}": "v" for index in range(count)})


def block_redis(server: RedisServer, seconds: float) -> tuple[threading.Thread, float]:
    """Make the server busy (DEBUG SLEEP) so the janitor's command in flight waits for it.

    Returns the sleeping thread and the Unix time at which the server is busy until (at least).
    """
    sent_at = time.time()
    thread = threading.Thread(
        target=lambda: server.client(socket_timeout=seconds + 10).execute_command(
            "DEBUG", "SLEEP", seconds
        )
    )
    thread.start()

    def busy() -> bool:
        try:
            server.client(socket_timeout=0.2, retry=Retry(NoBackoff(), 0)).ping()
        except redis.TimeoutError:
            return True
        return False

    wait_for(busy, what="the server to be busy")
    return thread, sent_at + seconds


def test_first_sigterm_finishes_the_step_in_flight_then_exits_0(
    redis_factory: RedisFactory, start_serve: Any
) -> None:
    server = redis_factory({"enable-debug-command": "yes"})
    plant_keys(server, 300)  # ~30 s of throttled scanning
    daemon = start_serve("--url", server.url, "--every", "1h", env=slow_scan_env())
    wait_for(lambda: daemon.events("scan.started"), what="the cycle to start")
    sleeper, busy_until = block_redis(server, 1.0)  # the janitor's next batch waits in Redis

    daemon.process.send_signal(signal.SIGTERM)

    assert daemon.wait_exit() == 0
    sleeper.join()
    stopped = daemon.events("cycle.stopped_early")
    assert stopped  # after the batch in flight, at its boundary
    assert datetime.fromisoformat(stopped[0]["timestamp"]).timestamp() >= busy_until - 0.05
    assert daemon.events("service.stopping")[0]["cycle_in_flight"] is True
    assert not daemon.events("scan.finished")  # the rest of the dry-run scan was abandoned
    assert daemon.notify.count("STOPPING=1") == 1
    assert server.client().exists(LOCK_KEY) == 0  # the lock was released on the way out


def test_second_sigterm_stops_at_once(redis_factory: RedisFactory, start_serve: Any) -> None:
    server = redis_factory({"enable-debug-command": "yes"})
    plant_keys(server, 300)
    daemon = start_serve("--url", server.url, "--every", "1h", env=slow_scan_env())
    wait_for(lambda: daemon.events("scan.started"), what="the cycle to start")
    sleeper, _ = block_redis(server, 4.0)  # the step in flight would take 4 s more
    daemon.process.send_signal(signal.SIGTERM)
    daemon.notify.wait_until(lambda: daemon.notify.count("STOPPING=1") == 1, what="STOPPING=1")

    daemon.process.send_signal(signal.SIGTERM)

    assert daemon.wait_exit(timeout=10) == 128 + signal.SIGTERM
    assert sleeper.is_alive()  # it did not wait for the step in flight (Redis still busy)
    assert not daemon.events("service.stopped")
    sleeper.join()


def test_serve_waits_for_redis_then_retries_when_it_goes_away(
    redis_factory: RedisFactory, start_serve: Any, tmp_path: Path
) -> None:
    socket_path = tmp_path / "redis-0" / "redis.sock"
    daemon = start_serve(
        "--url", f"unix://{socket_path}", "--every", "3s",
        env={"JANITOR_SERVICE__RETRY_MAX_BACKOFF": "1s"},
    )  # fmt: skip
    wait_for(lambda: len(daemon.events("service.redis_unreachable")) >= 2, what="start retries")
    assert daemon.notify.count("READY=1") == 0

    server = redis_factory(unix_socket=True)
    assert server.socket_path == socket_path
    daemon.notify.wait_until(lambda: daemon.notify.count("READY=1") == 1, what="READY=1")
    wait_for(lambda: daemon.events("cycle.finished"), what="first cycle")

    server.stop()  # Redis goes away while serving: failed cycles are logged and retried sooner
    wait_for(lambda: len(daemon.events("cycle.retry_scheduled")) >= 2, timeout=20, what="retries")
    assert daemon.process.poll() is None
    failed = [e for e in daemon.events("cycle.finished") if e["exit_code"] == 69]
    assert failed

    revived = RedisServer(server.workdir, unix_socket=True).start()
    try:
        wait_for(
            lambda: (
                daemon.events("cycle.finished")[-1]["exit_code"] == 0
                and len(daemon.events("cycle.finished")) > len(failed) + 1
            ),
            timeout=20,
            what="a successful cycle after Redis came back",
        )
    finally:
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.wait_exit() == 0
        revived.stop()


def test_concurrent_runs_on_one_instance_one_exits_75(
    redis_server: RedisServer, start_serve: Any, run_cli: Any, tmp_path: Path
) -> None:
    # >= 60 s of throttled scanning on every server, unless stopped (Valkey 8 SCAN COUNT 1 returns a
    # whole bucket of keys per call, Redis about one key): three CLI start-ups on a loaded machine
    # must all fall inside it; SIGTERM ends it at the end of the test
    plant_keys(redis_server, 5000)
    state_dir = {"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state")}
    first = start_serve("--url", redis_server.url, "--once", env={**state_dir, **slow_scan_env()})
    wait_for(lambda: first.events("scan.started"), what="the first run to hold the lock")

    same_host = run_cli("serve", "--once", "--url", redis_server.url, env=state_dir)
    other_host = {"JANITOR_SERVICE__STATE_DIR": str(tmp_path / "other-host-state")}
    elsewhere = run_cli("serve", "--once", "--url", redis_server.url, env=other_host)

    assert same_host.exit_code == 75, same_host.stderr
    assert "holds the local lock" in same_host.stderr
    assert elsewhere.exit_code == 75, elsewhere.stderr
    assert "holds the Redis lock" in elsewhere.stderr
    manual = run_cli("run", "--yes", "--url", redis_server.url, env=state_dir)
    assert manual.exit_code == 75, manual.stderr
    assert "holds the local lock" in manual.stderr
    first.process.send_signal(signal.SIGTERM)  # stops the dry-run scan at a batch boundary
    assert first.wait_exit() == 0
    assert run_cli("serve", "--once", "--url", redis_server.url, env=state_dir).exit_code == 0


def test_once_under_journald_masks_the_password_everywhere(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    server = redis_factory({"requirepass": "s3cret-pw"})
    url = f"redis://:s3cret-pw@127.0.0.1:{server.port}"
    textfile = tmp_path / "janitor.prom"
    log_path = tmp_path / "journal-stream"
    with log_path.open("wb") as log_file:
        status = os.fstat(log_file.fileno())
        env = {
            "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}",
            "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
        }
        completed = subprocess.run(
            [CLI, "serve", "--once", "--url", url, "--metrics-textfile", str(textfile)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env=clean_env(env),
            timeout=60,
        )

    assert completed.returncode == 0
    lines = log_path.read_text().splitlines()
    url_warning = [line for line in lines if '"password.in_command_line"' in line]
    assert len(url_warning) == 1 and url_warning[0].startswith("<4>{")  # --url has a password
    lines.remove(url_warning[0])
    assert lines and all(line.startswith("<6>{") for line in lines)  # journald priorities
    metrics = textfile.read_text()
    assert f'instance="redis://:***@127.0.0.1:{server.port}"' in metrics
    assert "s3cret-pw" not in metrics + log_path.read_text()


def test_scheduled_cycle_cleans_up_by_policy_and_publishes_metrics(
    redis_server: RedisServer, run_cli: Any, tmp_path: Path
) -> None:
    client = redis_server.client()
    for index in range(3):
        plant(client, f"cache:old:{index}", size=100_000, idle_seconds=40 * 86400)
    plant(client, "cache:fresh", size=100_000)
    textfile = tmp_path / "janitor.prom"
    env = {
        "JANITOR_SERVICE__STATE_DIR": str(tmp_path / "state"),
        "JANITOR_ARCHIVE__DIR": str(tmp_path / "archive"),
        "JANITOR_POLICY__GOAL": "all",
        "JANITOR_POLICY__RULES": json.dumps(
            [{"name": "old-cache", "match": ["cache:*"], "min_idle": "30d", "action": "archive"}]
        ),
    }
    result = run_cli(
        "serve", "--once", "--url", redis_server.url, "--metrics-textfile", str(textfile), env=env
    )
    assert result.exit_code == 0, result.stderr
    assert client.exists("cache:old:0", "cache:old:1", "cache:old:2") == 0
    assert client.exists("cache:fresh") == 1
    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
    (acted,) = families["redis_janitor_acted_keys"].samples
    assert (acted.labels["action"], acted.value) == ("archive", 3)
    assert families["redis_janitor_freed_bytes"].samples[0].value > 0
    # The only rule matches cache:*, so SCAN MATCH returns the 4 cache keys (not the run lock).
    assert families["redis_janitor_scanned_keys"].samples[0].value == 4
    assert families["redis_janitor_fork_charge_bytes"].samples[0].value > 0
    assert families["redis_janitor_verdict"].samples[0].value == 0


def test_serve_starts_on_an_instance_that_refuses_writes(
    redis_factory: RedisFactory, start_serve: Any, tmp_path: Path
) -> None:
    rdb_dir = tmp_path / "rdb"
    rdb_dir.mkdir()
    server = redis_factory({"save": "3600 1", "dir": str(rdb_dir)})
    client = server.client()
    client.set("k", "v")
    rdb_dir.rmdir()  # the BGSAVE child cannot create its temp file: a real failed save
    client.bgsave()
    wait_for(lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err", what="err")
    with pytest.raises(redis.ResponseError, match=r"^MISCONF"):
        client.ping()

    daemon = start_serve("--url", server.url, "--every", "1h")
    daemon.notify.wait_until(lambda: daemon.notify.count("READY=1") == 1, what="READY=1")
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
