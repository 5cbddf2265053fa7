"""A real BGSAVE's copy-on-write reaches the COW model and the headroom document."""

from __future__ import annotations

import random
import time
from typing import Any

import redis

from janitor.adapters.redis.connection import RedisTarget
from janitor.adapters.redis.info import read_disable_thp
from janitor.app.headroom import measure_headroom
from janitor.config.settings import load_settings
from janitor.domain.cow_model import CowFacts, predict_cow
from janitor.domain.cow_series import RDB, observations, points
from tests.conftest import RedisFactory

KEYS = 20_000


def sample(client: redis.Redis) -> dict[str, Any]:
    info = client.info()
    return {"ts": time.time(), "rss": info["used_memory_rss"], "info": info}


def write_some(client: redis.Redis) -> None:
    pipe = client.pipeline(transaction=False)
    for _ in range(200):
        pipe.set(f"key:{random.randrange(KEYS)}", b"w" * 400)
    pipe.execute()


def test_a_save_under_writes_is_observed_and_calibrates_the_model(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory({"enable-debug-command": "yes"})
    client = server.client()
    client.execute_command("DEBUG", "POPULATE", KEYS, "key", 400)
    client.config_set("rdb-key-save-delay", 100)  # 20k keys x 100 µs: a save of about 2 s
    samples = [sample(client)]
    client.bgsave()
    deadline = time.monotonic() + 60
    while client.info("persistence")["rdb_bgsave_in_progress"] or len(samples) < 2:
        assert time.monotonic() < deadline, "BGSAVE did not finish"
        write_some(client)
        samples.append(sample(client))
    for _ in range(5):  # the same writes go on after the save
        write_some(client)
        samples.append(sample(client))
    last_cow = int(client.info("persistence")["rdb_last_cow_size"])
    assert last_cow > 0

    saves = observations(points(samples), RDB)
    assert [s.cow_bytes for s in saves] == [last_cow]
    assert saves[0].write_rate is not None and saves[0].write_rate > 0
    now = samples.pop()
    prediction = predict_cow(samples, CowFacts(now["info"], now["ts"], now["rss"]))
    assert (prediction.source, prediction.saves_observed, prediction.estimated) == (
        "history",
        1,
        True,
    )
    assert prediction.bytes > 0
    assert any("calibrated on 1 save(s)" in reason for reason in prediction.reasons)


def test_headroom_reports_the_last_save_cow_and_reads_disable_thp(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory({"enable-debug-command": "yes"})
    client = server.client()
    client.execute_command("DEBUG", "POPULATE", KEYS, "key", 400)
    client.config_set("rdb-key-save-delay", 50)
    client.bgsave()
    deadline = time.monotonic() + 60
    while client.info("persistence")["rdb_bgsave_in_progress"] or not client.lastsave():
        assert time.monotonic() < deadline, "BGSAVE did not finish"
        write_some(client)
    last_cow = int(client.info("persistence")["rdb_last_cow_size"])
    assert last_cow > 0
    assert read_disable_thp(client) is True  # Redis 7 defaults to disable-thp yes
    settings = load_settings(None, {"redis": {"urls": [server.url]}}, {})
    document = measure_headroom([RedisTarget(server.url, settings)], settings).to_dict()
    instance = document["instances"][0]
    assert instance["cow_estimate_bytes"] >= last_cow
    assert instance["cow_model"]["source"] in ("last_cow", "prior")
    assert instance["cow_model"]["estimated"] is True
    assert any("rdb_last_cow_size" in reason for reason in instance["reasons"])
