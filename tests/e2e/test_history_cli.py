"""History and forecast end to end: a few runs on a growing instance, then every view of them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.support.keys import plant
from tests.support.redis_server import RedisServer
from tests.support.server_build import ServerBuild

Run = Callable[..., CliResult]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "proc"


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """A fixed recorded host, so the headroom moves only with the instance's own growth."""
    path = tmp_path / "janitor.toml"
    path.write_text(
        f"""
[headroom]
proc_root = "{FIXTURES / "k6.8-mode2-roomy-kbytes"}"
[service]
state_dir = "{tmp_path / "state"}"
[history]
forecast_min_span = "0"
{extra}
"""
    )
    return path


def grow_and_run(server: RedisServer, run_cli: Run, config: Path, runs: int) -> list[CliResult]:
    results = []
    for index in range(runs):
        plant(server.client(), f"data:{index}", size=4_000_000)
        results.append(
            run_cli("run", "--config", str(config), "--url", server.url, "--yes", "--format",
                    "json", "--metrics-textfile", str(config.parent / "janitor.prom"))
        )  # fmt: skip
    return results


def test_runs_on_a_growing_instance_give_a_forecast_everywhere(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path, redis_build: ServerBuild
) -> None:
    config = write_config(tmp_path)
    runs = grow_and_run(redis_server, run_cli, config, 5)
    assert all(run.exit_code == 0 for run in runs), runs[-1].stderr
    last = runs[-1].json()
    forecast = last["instances"][0]["forecast"]
    assert forecast["before"]["status"] == "shrinking"
    assert forecast["after"]["status"] == "shrinking"
    assert forecast["after"]["seconds_to_critical"] > 0
    assert forecast["after"]["slope_bytes_per_second"] < 0
    assert forecast["seconds_bought"] is None and forecast["message"] is None  # nothing freed
    assert last["after"]["instances"][0]["forecast"]["samples"] == 5
    cleanup = run_cli("run", "--config", str(config), "--url", redis_server.url, "--yes",
                      "--format", "json", "--goal", "all", "--match", "data:[0-2]",
                      "--action", "delete")  # fmt: skip
    bought = cleanup.json()["instances"][0]["forecast"]
    assert cleanup.exit_code == 0 and bought["seconds_bought"] > 0
    assert bought["message"].startswith("this cleanup buys ~")
    metrics = (tmp_path / "janitor.prom").read_text()
    assert "redis_janitor_forecast_seconds_to_critical{" in metrics
    assert "redis_janitor_forecast_seconds_to_warn{" in metrics

    headroom = run_cli("headroom", "--config", str(config), "--url", redis_server.url,
                       "--format", "json")  # fmt: skip
    entry = headroom.json()["instances"][0]
    assert entry["forecast"]["status"] == "shrinking"
    assert any(
        reason.startswith("forecast: fork will fail in about") for reason in entry["reasons"]
    )

    history = run_cli("history", "--config", str(config), "--format", "json")
    document = history.json()
    assert history.exit_code == 0 and document["kind"] == "history"
    assert [s["source"] for s in document["samples"]] == ["run"] * 6 + ["headroom"]
    assert document["samples"][5]["keys_acted"] == 3 and document["samples"][5]["freed_bytes"] > 0
    sample = document["samples"][0]
    assert sample["instance"] == redis_server.url and sample["keys_acted"] == 0
    recorded = {"total_forks", "mem_fragmentation_ratio"}
    recorded |= {"rdb_saves"} if redis_build.at_least(7, 0) else set()  # INFO has it from 7.0
    assert recorded <= set(sample["info"])
    assert document["forecasts"][redis_server.url]["status"] == "shrinking"

    rows = list(csv.DictReader(io.StringIO(run_cli("history", "--config", str(config),
                                                    "--format", "csv").stdout)))  # fmt: skip
    assert len(rows) == 7 and int(rows[0]["used_memory"]) < int(rows[4]["used_memory"])
    counter = "rdb_saves" if redis_build.at_least(7, 0) else "total_forks"
    assert json.loads(rows[0]["info"])[counter] == 0
    text = run_cli("history", "--config", str(config), "--since", "1h")
    assert "fork will fail in about" in text.stdout and redis_server.url in text.stdout
    assert run_cli("history", "--config", str(config), "--since", "soon").exit_code == 64


def test_forecast_warn_turns_ok_into_warn(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    grow_and_run(redis_server, run_cli, config, 4)
    args = ("headroom", "--url", redis_server.url, "--format", "json")
    variants = {}
    for name, horizon in (("off", "0"), ("strict", "1000d")):
        variants[name] = tmp_path / f"{name}.toml"
        variants[name].write_text(
            config.read_text().replace("[headroom]", f'[headroom]\nforecast_warn = "{horizon}"')
        )
    relaxed = run_cli(*args, "--config", str(variants["off"]))
    assert relaxed.json()["verdict"] == "ok" and relaxed.exit_code == 0
    assert relaxed.json()["instances"][0]["forecast"]["status"] == "shrinking"
    warned = run_cli(*args, "--config", str(variants["strict"]))
    entry = warned.json()["instances"][0]
    assert warned.exit_code == 1 and warned.json()["verdict"] == "warn"
    assert entry["verdict"] == "warn"
    assert any("headroom.forecast_warn" in reason for reason in entry["reasons"])


def test_a_broken_history_never_fails_a_command(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the history's directory should be")
    config = write_config(tmp_path, f'path = "{blocker / "history.jsonl"}"')
    result = run_cli("headroom", "--config", str(config), "--url", redis_server.url,
                     "--format", "json")  # fmt: skip
    assert result.exit_code == 0
    assert "history.write_failed" in result.stderr
    assert result.json()["instances"][0]["forecast"]["status"] == "not_enough_data"
    history = run_cli("history", "--config", str(config), "--format", "json")
    assert history.exit_code == 78 and "history.path" in history.stderr


def test_torn_history_line_is_skipped_and_reported(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    grow_and_run(redis_server, run_cli, config, 2)
    history_file = tmp_path / "state" / "history.jsonl"
    with history_file.open("a") as file:
        file.write('{"ts": 17000, "instance": "redis://x", "sou')
    document = run_cli("history", "--config", str(config), "--format", "json").json()
    assert len(document["samples"]) == 2 and document["skipped_lines"] == 1
    assert "torn" in document["problems"][0]
    assert grow_and_run(redis_server, run_cli, config, 1)[0].exit_code == 0
    assert (
        len(run_cli("history", "--config", str(config), "--format", "json").json()["samples"]) == 3
    )


def test_report_csv_has_top_keys_and_the_plan(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant(client, b"=cmd|' /C calc'!A0", size=50_000, idle_seconds=40 * 86400)
    plant(client, b"cache:old", size=20_000, idle_seconds=40 * 86400)
    config = write_config(
        tmp_path,
        '[[policy.rules]]\nname = "old"\nmatch = ["*"]\nmin_idle = "7d"\naction = "delete"',
    )
    out = tmp_path / "report.csv"
    result = run_cli("report", "--config", str(config), "--url", redis_server.url,
                     "--format", "csv", "--output", str(out))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {row["section"] for row in rows} == {"top_key", "plan"}
    formula = next(row for row in rows if row["key_base64"] == "PWNtZHwnIC9DIGNhbGMnIUEw")
    assert formula["key"] == "'=cmd|' /C calc'!A0"
    assert sum(1 for row in rows if row["section"] == "plan") == 2
    assert redis_server.client().exists("cache:old") == 1  # a report changes nothing
    misuse = run_cli("report", "--url", redis_server.url, "--output", str(out))
    assert misuse.exit_code == 64


def test_serve_cycles_are_recorded_and_unknown_forecasts_stay_absent(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    client = redis_server.client()
    for index in range(3):
        plant(client, f"cache:old:{index}", size=100_000, idle_seconds=40 * 86400)
    rule = '[policy]\ngoal = "all"\n[[policy.rules]]\nname = "old"\nmatch = ["cache:*"]\n'
    config = write_config(tmp_path, rule + 'min_idle = "30d"\naction = "delete"')
    textfile = tmp_path / "serve.prom"
    for _ in range(2):
        result = run_cli("serve", "--once", "--config", str(config), "--url", redis_server.url,
                         "--metrics-textfile", str(textfile))  # fmt: skip
        assert result.exit_code == 0, result.stderr
    samples = run_cli("history", "--config", str(config), "--format", "json").json()["samples"]
    assert [s["source"] for s in samples] == ["serve", "serve"]
    assert samples[0]["keys_acted"] == 3 and samples[0]["freed_bytes"] > 0
    assert samples[1]["keys_acted"] == 0
    metrics = textfile.read_text()
    assert "redis_janitor_fork_charge_bytes{" in metrics
    assert "redis_janitor_forecast_seconds_to_critical{" not in metrics  # 2 samples: unknown
