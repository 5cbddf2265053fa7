"""The installed ``redis-janitor`` command, end to end, against real servers."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult, RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import RedisServer, free_port

Run = Callable[..., CliResult]
TOP_KEY_FIELDS = {"db", "key", "key_base64", "type", "bytes", "idle_seconds", "freq", "ttl_seconds"}


def test_report_json_contract(redis_server: RedisServer, run_cli: Run) -> None:
    client = redis_server.client()
    plant(client, b"stale:\xffbig\n", size=40_000, idle_seconds=40 * 86400)
    plant(client, b"small", size=10, ttl_ms=7_200_000)
    redis_server.client(2).set("other:db", "v" * 3000)
    before = client.object("idletime", b"stale:\xffbig\n")

    result = run_cli("report", "--url", redis_server.url, "--format", "json", "--top", "2")

    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["schema_version"] == 1
    assert document["scanned_keys"] == 3
    top = document["top_keys"]
    assert [base64.b64decode(e["key_base64"]) for e in top] == [b"stale:\xffbig\n", b"other:db"]
    assert set(top[0]) >= TOP_KEY_FIELDS
    assert top[0]["key"] == "stale:\\xffbig\\n"
    assert top[0]["idle_seconds"] >= 40 * 86400
    assert top[0]["freq"] is None
    assert top[0]["ttl_seconds"] is None
    assert top[1]["db"] == 2
    assert {row["db"]: row["keys"] for row in document["by_db"]} == {0: 2, 2: 1}
    assert document["idle_histogram"]["ge_30d"]["keys"] == 1
    assert document["ttl_buckets"]["lt_1d"]["keys"] == 1
    assert document["ttl_buckets"]["none"]["keys"] == 2
    assert sum(row["keys"] for row in document["size_histogram"]) == 3
    assert {row["prefix"] for row in document["by_prefix"]} == {"stale", "other", ""}
    assert document["instances"][0]["idle_metric"] == "idletime"
    assert client.object("idletime", b"stale:\xffbig\n") >= before


def test_report_text_on_lfu_instance_says_freq(redis_factory: RedisFactory, run_cli: Run) -> None:
    server = redis_factory({"maxmemory-policy": "allkeys-lfu"})
    plant(server.client(), b"hot:key", size=5000, freq=100)
    result = run_cli("report", "--url", server.url)
    assert result.exit_code == 0, result.stderr
    assert "Largest keys" in result.stdout
    assert "hot:key" in result.stdout
    assert "OBJECT FREQ" in result.stdout
    json_result = run_cli("report", "--url", server.url, "--format", "json")
    entry = json_result.json()["top_keys"][0]
    assert entry["idle_seconds"] is None
    assert entry["freq"] >= 50


def test_unreachable_redis_exits_69_with_address(run_cli: Run) -> None:
    port = free_port()
    result = run_cli("report", "--url", f"redis://127.0.0.1:{port}", "--format", "json")
    assert result.exit_code == 69
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.json()["error"]["exit_code"] == 69


def test_bad_config_exits_78_with_field_and_reason(tmp_path: Path, run_cli: Run) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[scan]\ncount = -3\nsampels = 2\n[redis]\npassword = "topsecret"\n')
    result = run_cli("report", "--config", str(config))
    assert result.exit_code == 78
    assert "scan.count: Input should be greater than or equal to 1" in result.stderr
    assert "scan.sampels: unknown setting" in result.stderr
    assert "topsecret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    missing = run_cli("config", "check", "--config", str(tmp_path / "absent.toml"))
    assert missing.exit_code == 78
    assert "no such file" in missing.stderr


def test_acl_refusal_exits_77_naming_the_command(redis_server: RedisServer, run_cli: Run) -> None:
    admin = redis_server.client()
    admin.set("k", "v")
    admin.execute_command("ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-memory")
    result = run_cli(
        "report",
        "--url",
        redis_server.url,
        env={"JANITOR_REDIS__USERNAME": "limited", "JANITOR_REDIS__PASSWORD": "pw"},
    )
    assert result.exit_code == 77, result.stderr
    assert "memory|usage" in result.stderr
    assert "+memory|usage" in result.stderr


def test_wrong_password_exits_77_and_password_never_printed(
    redis_factory: RedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    server = redis_factory({"requirepass": "right-horse"})
    result = run_cli("report", "--url", server.url, env={"JANITOR_REDIS__PASSWORD": "wrong-horse"})
    assert result.exit_code == 77
    assert "wrong-horse" not in result.stderr + result.stdout


def test_password_from_credentials_directory_is_used_and_masked(
    redis_factory: RedisFactory, run_cli: Run, tmp_path: Path
) -> None:
    server = redis_factory({"requirepass": "cred-secret-42"})
    server.client().set("k", "v")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "redis-password").write_text("cred-secret-42\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "JANITOR_LOGGING__LEVEL": "debug"}
    result = run_cli("report", "--url", server.url, "--format", "json", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.json()["scanned_keys"] == 1
    check = run_cli("config", "check", "--url", server.url, env=env)
    assert check.exit_code == 0
    assert 'password = "***"' in check.stdout
    for output in (result.stdout, result.stderr, check.stdout, check.stderr):
        assert "cred-secret-42" not in output


def test_password_in_url_is_masked_in_output(redis_factory: RedisFactory, run_cli: Run) -> None:
    server = redis_factory({"requirepass": "url-secret-7"})
    url = f"redis://:url-secret-7@127.0.0.1:{server.port}"
    result = run_cli("report", "--url", url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["instances"][0]["url"] == f"redis://:***@127.0.0.1:{server.port}"
    assert "url-secret-7" not in result.stdout + result.stderr


def test_several_urls_give_one_report_per_instance(
    redis_factory: RedisFactory, run_cli: Run
) -> None:
    first, second = redis_factory(), redis_factory(unix_socket=True)
    first.client().set("a", "x" * 100)
    second.client().set("b", "x" * 5000)
    result = run_cli("report", "--url", first.url, "--url", second.url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert [i["url"] for i in document["instances"]] == [first.url, second.url]
    assert document["scanned_keys"] == 2
    assert document["top_keys"][0]["instance"] == second.url


def test_one_unreachable_instance_among_several(redis_server: RedisServer, run_cli: Run) -> None:
    redis_server.client().set("a", "v")
    dead = f"redis://127.0.0.1:{free_port()}"
    result = run_cli("report", "--url", redis_server.url, "--url", dead, "--format", "json")
    assert result.exit_code == 69
    document = result.json()
    assert document["scanned_keys"] == 1
    assert document["errors"][0]["url"] == dead


def test_usage_error_exits_64(run_cli: Run) -> None:
    result = run_cli("report", "--top", "-1")
    assert result.exit_code == 64
    assert "Traceback" not in result.stderr


def test_logs_are_json_lines_with_run_id_and_instance(
    redis_server: RedisServer, run_cli: Run
) -> None:
    import json

    redis_server.client().set("k", "v")
    result = run_cli("report", "--url", redis_server.url, "--format", "json")
    events = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    finished = [e for e in events if e["event"] == "scan.finished"]
    assert finished
    assert finished[0]["run_id"] == result.json()["run_id"]
    assert finished[0]["instance"] == redis_server.url
    assert finished[0]["scanned_keys"] == 1


def test_text_report_of_an_empty_instance_says_so(redis_server: RedisServer, run_cli: Run) -> None:
    result = run_cli("report", "--url", redis_server.url)
    assert result.exit_code == 0, result.stderr
    assert "No keys: the selected databases are empty" in result.stdout
    assert "Largest keys" not in result.stdout
