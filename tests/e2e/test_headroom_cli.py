"""``redis-janitor headroom`` end to end: JSON contract, text, exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.support.redis_server import RedisServer, free_port

Run = Callable[..., CliResult]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "proc"
HOST_FIELDS = {
    "overcommit_memory", "commit_limit_bytes", "committed_as_bytes", "mem_total_bytes",
    "mem_available_bytes", "swap_total_bytes", "kernel_release",
}  # fmt: skip
INSTANCE_FIELDS = {
    "url", "pid", "local", "estimated", "fork_charge_bytes", "largest_mapping_bytes",
    "rss_bytes", "cow_estimate_bytes", "commit_headroom_bytes", "cow_headroom_bytes",
    "verdict", "need_to_free_bytes", "reasons",
}  # fmt: skip


def config(tmp_path: Path, **options: str) -> str:
    path = tmp_path / "janitor.toml"
    lines = ["[headroom]"] + [f'{name} = "{value}"' for name, value in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_headroom_json_contract_on_this_host(redis_server: RedisServer, run_cli: Run) -> None:
    result = run_cli("headroom", "--url", redis_server.url, "--format", "json")
    document = result.json()
    assert result.exit_code == {"ok": 0, "warn": 1, "critical": 2}[document["verdict"]]
    assert document["schema_version"] == 1
    assert set(document["host"]) >= HOST_FIELDS
    assert document["host"]["kernel_release"] == Path("/proc/sys/kernel/osrelease").read_text(
    ).strip()  # fmt: skip
    instance = document["instances"][0]
    assert set(instance) >= INSTANCE_FIELDS
    assert instance["url"] == redis_server.url
    assert instance["pid"] == redis_server.client().info("server")["process_id"]
    assert instance["local"] is True and instance["estimated"] is False
    assert instance["fork_charge_bytes"] > 0
    assert isinstance(instance["reasons"], list) and instance["reasons"]


def test_headroom_text_names_the_verdict(redis_server: RedisServer, run_cli: Run) -> None:
    result = run_cli("headroom", "--url", redis_server.url)
    assert result.exit_code in (0, 1, 2)
    assert "fork headroom" in result.stdout
    assert redis_server.url in result.stdout
    assert "overcommit_memory" in result.stdout


def test_margin_above_the_headroom_exits_1(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    path = config(tmp_path, margin="1024TiB")
    result = run_cli("headroom", "--config", path, "--url", redis_server.url, "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert result.json()["verdict"] == "warn"
    assert result.json()["instances"][0]["need_to_free_bytes"] > 0


def test_overcommitted_mode2_host_exits_2_and_labels_the_estimate(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    path = config(tmp_path, proc_root=str(FIXTURES / "k6.8-mode2-overcommitted"))
    result = run_cli("headroom", "--config", path, "--url", redis_server.url, "--format", "json")
    assert result.exit_code == 2, result.stderr
    document = result.json()
    assert document["verdict"] == "critical"
    assert document["host"]["overcommit_memory"] == 2
    instance = document["instances"][0]
    assert instance["estimated"] is True
    assert instance["commit_headroom_bytes"] < 0
    assert any("does not exist here" in reason for reason in instance["reasons"])


def test_unreachable_instance_exits_69(run_cli: Run) -> None:
    port = free_port()
    result = run_cli("headroom", "--url", f"redis://127.0.0.1:{port}", "--format", "json")
    assert result.exit_code == 69
    assert result.json()["error"]["exit_code"] == 69
    assert "Traceback" not in result.stderr


def test_bad_margin_is_a_config_error(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("headroom", "--config", config(tmp_path, margin="lots"))
    assert result.exit_code == 78
    assert "headroom.margin" in result.stderr


def test_report_has_the_headroom_section(redis_server: RedisServer, run_cli: Run) -> None:
    redis_server.client().set("k", "v")
    result = run_cli("report", "--url", redis_server.url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    headroom = result.json()["headroom"]
    assert headroom["instances"][0]["url"] == redis_server.url
    assert headroom["verdict"] in ("ok", "warn", "critical")
    text = run_cli("report", "--url", redis_server.url)
    assert "fork headroom" in text.stdout
