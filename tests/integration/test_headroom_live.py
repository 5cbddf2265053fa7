"""Headroom of real redis-server processes started by the suite (same user as the tests)."""

from __future__ import annotations

from pathlib import Path

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.headroom import measure_headroom, predict_after_freeing
from janitor.config.settings import Settings, load_settings
from tests.conftest import RedisFactory
from tests.support.keys import plant
from tests.support.redis_server import RedisServer, wait_for

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proc"


def smaps_fork_charge(pid: int) -> int:
    """Σ Size of mappings whose VmFlags hold ac and not dc, parsed here independently."""
    total, size = 0, 0
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if line.startswith("Size:"):
            size = int(line.split()[1]) * 1024
        elif line.startswith("VmFlags:"):
            flags = line.split()[1:]
            if "ac" in flags and "dc" not in flags:
                total += size
    return total


def settings_for(server: RedisServer, **headroom: object) -> Settings:
    return load_settings(None, {"redis": {"urls": [server.url]}, "headroom": headroom}, {})


def test_fork_charge_of_a_live_instance_equals_its_smaps_sum(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for index in range(20):
        plant(client, f"big:{index}", size=256 * 1024)
    pid = int(client.info("server")["process_id"])
    settings = settings_for(redis_server)
    target = RedisTarget(redis_server.url, settings)

    def measured_equals_smaps() -> tuple[int, int] | None:
        before = smaps_fork_charge(pid)
        report = measure_headroom([target], settings)
        after = smaps_fork_charge(pid)
        charge = report.instances[0].fork_charge_bytes
        return (charge, before) if before == after == charge else None

    charge, expected = wait_for(measured_equals_smaps, timeout=10, what="a stable smaps sum")
    assert charge == expected > 0
    report = measure_headroom([target], settings)
    instance = report.instances[0]
    document = instance.to_dict()
    assert document["pid"] == pid
    assert document["local"] is True
    assert document["estimated"] is False
    assert document["rss_bytes"] > 5 * 1024 * 1024
    assert document["largest_mapping_bytes"] <= document["fork_charge_bytes"]
    assert report.host.overcommit_memory in (0, 1, 2)
    after = predict_after_freeing(instance, 1 << 20)
    assert after["rss_bytes"] == instance.rss_bytes - (1 << 20)
    target.close()


def test_measured_cow_after_a_bgsave_replaces_the_guess(redis_factory: RedisFactory) -> None:
    server = redis_factory({"rdb-key-save-delay": "2000"})  # 2 ms per key: a slow dump
    client = server.client()
    for index in range(200):
        client.set(f"k{index}", b"x" * 16384)
    settings = settings_for(server)
    target = RedisTarget(server.url, settings)
    guessed = measure_headroom([target], settings).instances[0]
    assert guessed.assessment.cow_estimate_bytes == int(guessed.rss_bytes * 0.5)
    client.bgsave()
    wait_for(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 1, what="bgsave")
    for index in range(200):  # rewrite every value while the child dumps: pages get copied
        client.set(f"k{index}", b"y" * 16384)
    wait_for(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0, what="end")
    info = client.info("persistence")
    assert info["rdb_last_bgsave_status"] == "ok"
    assert info["rdb_last_cow_size"] > 0
    measured = measure_headroom([target], settings).instances[0]
    assert measured.assessment.cow_estimate_bytes == info["rdb_last_cow_size"]
    target.close()


def test_instance_that_cannot_be_proven_is_estimated_with_a_reason(
    redis_server: RedisServer,
) -> None:
    settings = settings_for(redis_server, proc_root=str(FIXTURES / "k6.1-mode0-fits"))
    target = RedisTarget(redis_server.url, settings)
    report = measure_headroom([target], settings)
    document = report.to_dict()["instances"][0]
    assert document["estimated"] is True
    assert document["local"] is False
    info = redis_server.client().info("memory")
    assert document["rss_bytes"] == info["used_memory_rss"]
    assert any("does not exist here" in reason for reason in document["reasons"])
    assert report.to_dict()["host"]["kernel_release"] == "6.1.0-18-amd64"
    target.close()
