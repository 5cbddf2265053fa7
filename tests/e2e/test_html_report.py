"""``report --format html`` in a real headless Chromium: no script, no network, charts drawn."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.support.chromium import load_page
from tests.support.keys import plant
from tests.support.redis_server import RedisServer

Run = Callable[..., CliResult]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "proc"
DAY = 86400
MIB = 1024**2
HOSTILE = b"<script>alert(1)</script>"
PAGE_FACTS = """JSON.stringify({
  text: document.body.innerText,
  scripts: document.scripts.length,
  charts: [...document.querySelectorAll('svg.chart')].map(svg => ({
    label: svg.getAttribute('aria-label'),
    width: svg.getBoundingClientRect().width,
    shapes: [...svg.querySelectorAll('rect,polyline,circle,line')]
      .filter(s => { const b = s.getBBox(); return b.width > 0 || b.height > 0; }).length,
  })),
  polyline: (document.querySelector('polyline') || {getAttribute: () => ''})
    .getAttribute('points').trim().split(/\\s+/).length,
  forecast_lines: document.querySelectorAll('line[stroke-dasharray="3 3"]').length,
})"""


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "janitor.toml"
    path.write_text(
        f"""
[headroom]
proc_root = "{FIXTURES / "k6.8-mode2-roomy-kbytes"}"
[service]
state_dir = "{tmp_path / "state"}"
[history]
forecast_min_span = "0"
[[policy.rules]]
name = "stale-cache"
match = ["cache:*"]
min_idle = "7d"
action = "delete"
"""
    )
    return path


def synthetic_history(path: Path, url: str, now: dict[str, int]) -> None:
    """12 h of shrinking headroom (-50 MiB/h) ending at today's figures, a cleanup at 6 h."""
    with path.open("a") as file:
        for index in range(48):
            ts = time.time() - (48 - index) * 900
            offset = int((48 - index) * 12.5 * MIB) - (300 * MIB if index < 24 else 0)
            sample = {
                "ts": ts, "instance": url, "source": "run", "verdict": "ok", "info": {},
                "commit_headroom": now["commit_headroom_bytes"] + offset,
                "cow_headroom": now["cow_headroom_bytes"] + offset,
                "fork_charge": now["fork_charge_bytes"],
            }  # fmt: skip
            if index == 24:
                sample.update(freed_bytes=300 * MIB, keys_acted=40)
            file.write(json.dumps(sample) + "\n")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


def test_html_report_in_a_headless_browser(
    redis_server: RedisServer, run_cli: Run, tmp_path: Path
) -> None:
    client = redis_server.client()
    plant(client, HOSTILE, size=300_000, idle_seconds=40 * DAY)
    plant(client, b'cache:"quoted" & <b>bold</b>\xff', size=120_000, idle_seconds=30 * DAY)
    for index in range(40):
        plant(client, f"cache:item:{index}", size=2_000 * (index + 1), idle_seconds=9 * DAY)
        plant(client, f"session:{index}", size=500, ttl_ms=3_600_000 * (index + 1))
    config = write_config(tmp_path)
    first = run_cli(
        "headroom", "--config", str(config), "--url", redis_server.url, "--format", "json"
    )
    history = tmp_path / "state" / "history.jsonl"
    history.write_text("")  # the synthetic past comes first; today's samples follow
    synthetic_history(history, redis_server.url, first.json()["instances"][0])
    page = tmp_path / "report.html"

    result = run_cli(
        "report", "--config", str(config), "--url", redis_server.url, "--format", "html",
        "--output", str(page),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    html = page.read_text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    screenshot = tmp_path / "report.png"
    loaded = load_page(page, PAGE_FACTS, screenshot, tmp_path / "chromium-profile")
    assert loaded.requests == [page.resolve().as_uri()]  # the page itself, nothing else
    assert loaded.console == [] and loaded.exceptions == [] and loaded.dialogs == []
    assert [e for e in loaded.log_entries if e["level"] == "error"] == []
    facts = json.loads(loaded.evaluated)
    assert facts["scripts"] == 0
    assert "<script>alert(1)</script>" in facts["text"]
    assert 'cache:\\"quoted\\" & <b>bold</b>\\xff' in facts["text"]
    assert "fork will fail in about" in facts["text"]
    assert "since the last cleanup" in facts["text"]
    labels = [chart["label"] for chart in facts["charts"]]
    assert {"fork headroom", "Headroom over time and forecast", "Bytes by key size",
            "Bytes by idle time", "Bytes by TTL", "Largest prefixes"} <= set(labels)  # fmt: skip
    assert all(chart["shapes"] > 0 and chart["width"] > 0 for chart in facts["charts"]), facts
    assert facts["polyline"] >= 49  # 48 recorded + the report's own sample (+ headroom's)
    assert facts["forecast_lines"] == 1
    assert "What the configured rules would free" in facts["text"]
    width, height = png_size(screenshot)
    assert width == 1400 and height > 1000
