"""The server-CPU budget through the installed command: settings in, cost in the log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import CliResult
from tests.support.redis_server import RedisServer

Run = Callable[..., CliResult]


def scan_finished(result: CliResult) -> dict[str, Any]:
    events = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    (finished,) = [event for event in events if event["event"] == "scan.finished"]
    return finished


def test_paced_report_logs_what_the_scan_cost_redis(
    redis_server: RedisServer, run_cli: Run
) -> None:
    client = redis_server.client()
    for index in range(3000):
        client.set(f"k:{index}", "v")
    paced = run_cli(
        "report",
        "--url",
        redis_server.url,
        "--format",
        "json",
        env={"JANITOR_SCAN__MAX_SERVER_CPU": "0.5"},
    )
    assert paced.exit_code == 0, paced.stderr
    assert paced.json()["scanned_keys"] == 3000
    finished = scan_finished(paced)
    assert finished["max_server_cpu"] == 0.5
    assert finished["server_cpu_seconds"] > 0
    assert 0 < finished["server_cpu_share"] <= 1


def test_no_budget_and_no_batch_bound_scans_unpaced(
    redis_server: RedisServer, run_cli: Run
) -> None:
    redis_server.client().set("k", "v")
    result = run_cli(
        "report",
        "--url",
        redis_server.url,
        "--format",
        "json",
        env={"JANITOR_SCAN__MAX_SERVER_CPU": "1", "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": "0"},
    )
    assert result.exit_code == 0, result.stderr
    assert "server_cpu_seconds" not in scan_finished(result)


def test_a_batch_bound_alone_still_measures_the_cost(
    redis_server: RedisServer, run_cli: Run
) -> None:
    redis_server.client().set("k", "v")
    result = run_cli(
        "report",
        "--url",
        redis_server.url,
        "--format",
        "json",
        env={"JANITOR_SCAN__MAX_SERVER_CPU": "1", "JANITOR_SCAN__MAX_BATCH_SERVER_TIME": "50us"},
    )
    assert result.exit_code == 0, result.stderr
    assert scan_finished(result)["max_server_cpu"] == 1.0


def test_budget_out_of_range_exits_78(run_cli: Run) -> None:
    result = run_cli("report", env={"JANITOR_SCAN__MAX_SERVER_CPU": "2"})
    assert result.exit_code == 78
    assert "max_server_cpu" in result.stderr
    assert "Traceback" not in result.stderr
