"""HTML/CSV rendering of the full report, forecast entries and the forecast metrics (pure)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console

from janitor.adapters.prometheus import MetricsStore, PassMetrics
from janitor.app.forecast_view import add_forecasts
from janitor.cli.render.csv_report import report_csv, spreadsheet_safe
from janitor.cli.render.html_report import render_html
from janitor.cli.render.report import render_report
from janitor.cli.render.svg import bar_chart, trend_chart
from janitor.domain.forecast import Forecast

HOSTILE = "<script>alert(1)</script>"
TALLY = {"keys": 1, "bytes": 10}


def key(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "db": 0,
        "key": name,
        "key_base64": "",
        "type": "string",
        "bytes": 10,
        "idle_seconds": 5,
        "freq": None,
        "ttl_seconds": None,
        **extra,
    }


def document() -> dict[str, Any]:
    scan = {
        "url": 'redis://h:1?"><img src=x onerror=alert(2)>',
        "server": {
            "flavor": "redis",
            "version": "7.2",
            "maxmemory_policy": "noeviction",
            "used_memory_bytes": 1,
        },
        "scanned_keys": 1,
        "scanned_bytes": 10,
        "duration_seconds": 0.1,
        "warnings": [HOSTILE],
        "top_keys": [key(HOSTILE)],
        "size_histogram": [{"le_bytes": 16, **TALLY}],
        "idle_histogram": {"lt_1h": TALLY},
        "ttl_buckets": {"none": TALLY},
        "by_prefix": [{"prefix": "<i>p</i>", **TALLY}],
        "plan": {
            "goal": "all",
            "need_to_free_bytes": 0,
            "planned_actions": 1,
            "planned_bytes": 10,
            "actions": [key(HOSTILE, action="delete", rule="<r>", planned=True)],
            "all_matching": {
                "actions": 1,
                "bytes": 10,
                "by_action": {"delete": {"keys": 1, "bytes": 10}},
            },
        },
    }
    return {
        "generated_at": "now",
        "run_id": "r",
        "scanned_keys": 1,
        "scanned_bytes": 10,
        "instances": [scan],
        "history": {},
        "errors": [{"url": "u", "message": HOSTILE}],
    }


def test_html_escapes_every_redis_text_and_has_no_script() -> None:
    page = render_html(document())
    assert "<script" not in page and "<img" not in page and "<i>p</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.count("<svg") == 5  # four keyspace charts and the plan's by-action chart


def test_charts_are_drawn_and_empty_ones_say_so() -> None:
    chart = bar_chart("t", [("a", 1.0), ("b", 3.0)])
    assert chart.count("<rect") == 2 and 'aria-label="t"' in chart
    assert "nothing to show" in bar_chart("t", [])
    assert "not enough history" in trend_chart([], None, 0)
    points = [{"ts": 0, "headroom": 100}, {"ts": 60, "headroom": 90}]
    forecast = {
        "seconds_to_critical": 150.0,
        "headroom_bytes": 90.0,
        "slope_bytes_per_second": -0.6,
    }
    drawn = trend_chart(points, forecast, 10)
    assert "<polyline" in drawn and 'stroke-dasharray="3 3"' in drawn and "zero: the fork" in drawn
    far = trend_chart(
        points, {**forecast, "seconds_to_critical": 5400.0, "slope_bytes_per_second": -0.01}, 10
    )
    assert "zero: the fork" not in far and "below this chart" in far


def test_csv_rows_and_formula_guard() -> None:
    rows = list(csv.DictReader(io.StringIO(report_csv(document()))))
    assert [row["section"] for row in rows] == ["top_key", "plan"]
    assert rows[1]["action"] == "delete" and rows[1]["planned"] == "True"
    assert spreadsheet_safe("=1+1") == "'=1+1" and spreadsheet_safe("a=1") == "a=1"


def test_forecast_warn_escalates_only_ok() -> None:
    soon = Forecast("shrinking", 5, 600.0, 0.0, 100.0, -1.0, 50.0, 100.0)
    doc = {
        "verdict": "ok",
        "instances": [
            {"url": "a", "verdict": "ok", "reasons": []},
            {"url": "b", "verdict": "ok", "reasons": []},
        ],
    }
    add_forecasts(doc, {"a": soon, "b": soon}, 30.0)
    assert doc["verdict"] == "ok" and doc["instances"][0]["forecast"]["seconds_to_warn"] == 50.0
    add_forecasts(doc, {"a": soon}, 3600.0)
    assert doc["verdict"] == "warn" and doc["instances"][0]["verdict"] == "warn"
    assert doc["instances"][1]["verdict"] == "ok"


def test_forecast_metrics_are_absent_when_unknown() -> None:
    store = MetricsStore()
    known = PassMetrics(
        "redis://a",
        1.0,
        1.0,
        True,
        forecast_seconds_to_critical=3600.0,
        forecast_seconds_to_warn=1800.0,
    )
    store.update([known, PassMetrics("redis://b", 1.0, 1.0, True)])
    text = store.exposition().decode()
    assert (
        'redis_janitor_forecast_seconds_to_critical{instance="redis://a",role="",shard=""} 3600.0'
        in text
    )
    assert (
        'redis_janitor_forecast_seconds_to_warn{instance="redis://a",role="",shard=""} 1800.0'
        in text
    )
    unknown = [line for line in text.splitlines() if 'instance="redis://b"' in line]
    assert unknown  # b has series of its own...
    assert not [line for line in unknown if "forecast" in line]  # ...but no forecast


MARKUP = "[/x]:[bold red]evil[/bold red]"


def text_report_document() -> dict[str, Any]:
    """A report whose every Redis-given text is rich markup (a key, prefix, URL, warning)."""
    instance = {
        "url": f"unix:///tmp/{MARKUP}.sock",
        "node": None,
        "server": {"flavor": "redis", "version": "7.0.15"},
        "dbs": [0],
        "scanned_keys": 1,
        "scanned_bytes": 10,
        "duration_seconds": 0.1,
        "keys_per_second": 10.0,
        "top_keys": [key(MARKUP)],
        "warnings": [f"key {MARKUP} vanished"],
    }
    return {
        "run_id": "r",
        "scanned_keys": 1,
        "scanned_bytes": 10,
        "instances": [instance],
        "top_keys": [key(MARKUP)],
        "by_db": [{"db": 0, **TALLY}],
        "by_type": [{"type": "string", **TALLY}],
        "by_prefix": [{"prefix": MARKUP.split(":")[0], **TALLY}],
        "size_histogram": [{"le_bytes": 16, **TALLY}],
        "idle_histogram": {"lt_1h": TALLY},
        "ttl_buckets": {"none": TALLY},
    }


def test_text_report_prints_markup_in_key_names_literally() -> None:
    """A key, prefix or socket path holding "[/x]" once crashed the text report (MarkupError)."""
    for width in (200, 40):  # a table, then the stacked rows of a narrow terminal
        out = io.StringIO()
        render_report(text_report_document(), Console(file=out, width=width, color_system=None))
        text = out.getvalue()
        assert "[/x]" in text and "[bold red]evil[/bold red]" in text.replace("\n", "")
