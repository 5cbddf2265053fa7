"""The HTML report: one self-contained page (inline CSS and SVG; no script, no network).

Built from the document of ``janitor.app.full_report``. Every piece of text from Redis (key
names, prefixes, URLs, messages) is HTML-escaped; a Content-Security-Policy forbids scripts and
every external load, so the page is safe to open from an e-mail attachment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from janitor.cli.render.report import IDLE_LABELS
from janitor.cli.render.svg import bar_chart, esc, headroom_picture, trend_chart
from janitor.core.units import format_bytes, format_duration

KEY_ROWS = 25
PLAN_ROWS = 50
PREFIX_BARS = 15
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;
max-width:1500px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:2px solid #ddd}
h3{font-size:15px;margin:16px 0 6px}.muted{color:#666}.charts{display:flex;flex-wrap:wrap;gap:16px}
.verdict{padding:2px 8px;border-radius:4px;color:#fff;font-weight:bold}
.ok{background:#59a14f}.warn{background:#d4a017}.critical{background:#e15759}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;white-space:nowrap}code{font-family:ui-monospace,monospace;
word-break:break-all}.forecast{font-size:15px;font-weight:bold}
"""


def _verdict(value: str) -> str:
    return f'<span class="verdict {esc(value)}">{esc(value.upper())}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{esc(name)}</th>" for name in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if index in numeric else f"<td>{cell}</td>"
            for index, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _key_rows(entries: list[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for entry in entries:
        idle = entry.get("idle_seconds")
        ttl = entry.get("ttl_seconds")
        rows.append(
            [
                esc(entry["db"]),
                f"<code>{esc(entry['key'])}</code>",
                esc(entry["type"]),
                esc(format_bytes(entry["bytes"])),
                esc("-" if idle is None else format_duration(idle)),
                esc("-" if ttl is None else format_duration(ttl)),
                *(_plan_cells(entry) if "action" in entry else []),
            ]
        )
    return rows


def _plan_cells(entry: Mapping[str, Any]) -> list[str]:
    return [esc(entry["action"]), esc(entry["rule"]), "yes" if entry.get("planned") else "no"]


def _keyspace_charts(section: Mapping[str, Any]) -> str:
    sizes = [(f"≤ {format_bytes(r['le_bytes'])}", r["bytes"]) for r in section["size_histogram"]]
    idle = [(IDLE_LABELS[k], v["bytes"]) for k, v in section["idle_histogram"].items()]
    ttl = [(IDLE_LABELS[k], v["bytes"]) for k, v in section["ttl_buckets"].items()]
    prefixes = [
        (r["prefix"] or "(no prefix)", r["bytes"]) for r in section["by_prefix"][:PREFIX_BARS]
    ]
    charts = [
        bar_chart("Bytes by key size", sizes),
        bar_chart("Bytes by idle time", idle),
        bar_chart("Bytes by TTL", ttl),
        bar_chart("Largest prefixes", prefixes),
    ]
    return '<div class="charts">' + "".join(charts) + "</div>"


def _plan(plan: Mapping[str, Any] | None) -> str:
    if plan is None:
        return '<p class="muted">No plan (the instance could not be scanned).</p>'
    everything = plan["all_matching"]
    lines = [
        "<h3>What the configured rules would free (dry run: nothing was changed)</h3>",
        f"<p>Every rule together matches {everything['actions']:,} keys holding "
        f"{esc(format_bytes(everything['bytes']))}. Under the goal <b>{esc(plan['goal'])}</b> "
        f"(need to free {esc(format_bytes(plan['need_to_free_bytes']))}) a run would act on "
        f"{plan['planned_actions']:,} keys, {esc(format_bytes(plan['planned_bytes']))}.</p>",
    ]
    by_action = [(name, row["bytes"]) for name, row in sorted(everything["by_action"].items())]
    if by_action:
        lines.append(bar_chart("Bytes the rules match, by action", by_action))
    if plan["actions"]:
        lines.append(f"<p>The best-scored matches (first {PLAN_ROWS}):</p>")
        headers = ["db", "key", "type", "size", "idle", "ttl", "action", "rule", "in this run"]
        rows = _key_rows(plan["actions"][:PLAN_ROWS])
        lines.append(_table(headers, rows, {0, 3, 4, 5}))
    return "".join(lines)


def _instance(
    scan: Mapping[str, Any], headroom: Mapping[str, Any] | None, history: list[Any]
) -> str:
    parts = [f"<h2>{esc(scan['url'])} {_verdict(headroom['verdict']) if headroom else ''}</h2>"]
    server = scan["server"]
    parts.append(
        f'<p class="muted">{esc(server["flavor"])} {esc(server["version"])}, '
        f"{scan['scanned_keys']:,} keys, {esc(format_bytes(scan['scanned_bytes']))} scanned in "
        f"{scan['duration_seconds']:.1f}s</p>"
    )
    if headroom is not None:
        forecast = headroom.get("forecast")
        if forecast:
            parts.append(f'<p class="forecast">{esc(forecast["message"])}</p>')
        parts.append('<div class="charts">')
        parts.append(headroom_picture(headroom))
        parts.append(trend_chart(history, forecast, float(headroom.get("margin_bytes") or 0)))
        parts.append("</div><ul>")
        parts += [f"<li>{esc(reason)}</li>" for reason in headroom["reasons"]]
        parts.append("</ul>")
    parts += [f'<p class="muted">warning: {esc(w)}</p>' for w in scan["warnings"]]
    parts.append(_keyspace_charts(scan))
    parts.append("<h3>Largest keys</h3>")
    headers = ["db", "key", "type", "size", "idle", "ttl"]
    parts.append(_table(headers, _key_rows(scan["top_keys"][:KEY_ROWS]), {0, 3, 4, 5}))
    parts.append(_plan(scan.get("plan")))
    return "<section>" + "".join(parts) + "</section>"


def render_html(document: Mapping[str, Any]) -> str:
    """The whole page for the report document."""
    headroom = document.get("headroom") or {}
    by_url = {entry["url"]: entry for entry in headroom.get("instances", [])}
    history = document.get("history", {})
    body = [
        "<h1>redis-janitor report</h1>",
        f'<p class="muted">generated {esc(document["generated_at"])}, run '
        f"{esc(document['run_id'])}; {document['scanned_keys']:,} keys, "
        f"{esc(format_bytes(document['scanned_bytes']))}; dry run: nothing was changed.</p>",
    ]
    if headroom:
        body.append(f"<p>Fork headroom over all instances: {_verdict(headroom['verdict'])}</p>")
    for scan in document["instances"]:
        body.append(_instance(scan, by_url.get(scan["url"]), history.get(scan["url"], [])))
    for error in document.get("errors", []):
        body.append(f"<p><b>error</b>: {esc(error['url'])}: {esc(error['message'])}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>redis-janitor report</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
