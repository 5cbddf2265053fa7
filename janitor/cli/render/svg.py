"""Static SVG charts for the HTML report: bars, the headroom picture and the trend with forecast.

Each function returns one ``<svg>`` element as text. Every label goes through ``esc`` (key names
and prefixes are attacker-controlled); no scripts, no external references.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from janitor.core.units import format_bytes

WIDTH = 660
COLOURS = {
    "bar": "#4e79a7",
    "charge": "#4e79a7",
    "cow": "#f28e2b",
    "room": "#59a14f",
    "short": "#e15759",
    "margin": "#edc948",
    "forecast": "#b07aa1",
    "grid": "#d0d0d0",
    "text": "#222222",
}


def esc(text: object) -> str:
    """Text safe inside SVG/HTML elements and attributes."""
    return html.escape(str(text), quote=True)


def _svg(height: float, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" '
        f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="{esc(label)}"><title>{esc(label)}</title>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{COLOURS["text"]}">{esc(text)}</text>'
    )


def _rect(x: float, y: float, width: float, height: float, colour: str, tip: str = "") -> str:
    title = f"<title>{esc(tip)}</title>" if tip else ""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.0):.1f}" height="{height:.1f}" '
        f'fill="{colour}">{title}</rect>'
    )


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, float]],
    value_label: Callable[[float], str] = format_bytes,
) -> str:
    """Horizontal bars, one per ``(label, value)``; long labels shortened, full one as tooltip."""
    label_width, value_width, row = 230, 110, 22
    height = 30 + row * max(len(rows), 1)
    body = [_text(0, 16, title, size=14)]
    top = max((value for _, value in rows), default=0) or 1
    span = WIDTH - label_width - value_width
    for index, (label, value) in enumerate(rows):
        y = 26 + index * row
        short = label if len(label) <= 32 else label[:31] + "…"
        body.append(_text(label_width - 6, y + 14, short, "end"))
        body.append(_rect(label_width, y + 2, span * value / top, row - 6, COLOURS["bar"], label))
        body.append(_text(WIDTH - 4, y + 14, value_label(value), "end"))
    if not rows:
        body.append(_text(label_width, 44, "nothing to show"))
    return _svg(height, body, title)


def headroom_picture(entry: Mapping[str, Any]) -> str:
    """Two bars against their limits: fork charge + commit room, expected COW + COW room."""
    rows = [
        ("commit", entry.get("fork_charge_bytes"), entry.get("commit_headroom_bytes"), "charge"),
        ("copy-on-write", entry.get("cow_estimate_bytes"), entry.get("cow_headroom_bytes"), "cow"),
    ]
    margin = entry.get("margin_bytes") or 0
    body = [_text(0, 16, "Fork headroom: what the fork needs against its limit", size=14)]
    label_width, y = 110, 30
    span = WIDTH - label_width - 10
    for name, used, room, colour in rows:
        if used is None or room is None:
            body.append(_text(0, y + 16, f"{name}: unknown"))
            y += 44
            continue
        limit = used + max(room, 0)
        scale = span / max(limit, used, 1)
        body.append(_text(label_width - 6, y + 16, name, "end"))
        body.append(
            _rect(
                label_width,
                y,
                max(used * scale, 2.0),
                22,
                COLOURS[colour],
                f"needs {format_bytes(used)}",
            )
        )
        fill = COLOURS["room"] if room >= margin else COLOURS["short"]
        body.append(
            _rect(
                label_width + used * scale,
                y,
                max(room, 0) * scale,
                22,
                fill,
                f"room {format_bytes(room)}",
            )
        )
        if 0 < margin < limit:
            x = label_width + (limit - margin) * scale
            body.append(_line(x, y - 3, x, y + 25, COLOURS["margin"], 3))
        caption = (
            f"needs {format_bytes(used)}, room {format_bytes(room)}, margin {format_bytes(margin)}"
        )
        body.append(_text(label_width, y + 38, caption, size=11))
        y += 52
    return _svg(y + 4, body, "fork headroom")


@dataclass(frozen=True)
class _Frame:
    """Maps time and bytes onto the trend chart's pixels."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    left: float = 90
    right: float = 14
    top: float = 28
    bottom: float = 40
    height: float = 260

    def x(self, t: float) -> float:
        return self.left + (t - self.x_min) / (self.x_max - self.x_min) * (
            WIDTH - self.left - self.right
        )

    def y(self, v: float) -> float:
        return self.top + (self.y_max - v) / (self.y_max - self.y_min) * (
            self.height - self.top - self.bottom
        )

    def hline(self, value: float, colour: str, width: int = 1, dash: str = "") -> str:
        return _line(
            self.left, self.y(value), WIDTH - self.right, self.y(value), colour, width, dash
        )


def _line(
    x1: float, y1: float, x2: float, y2: float, colour: str, width: int = 1, dash: str = ""
) -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
        f'stroke-width="{width}"{dashes}/>'
    )


def _circle(x: float, y: float, radius: float, colour: str, tip: str) -> str:
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}">'
        f"<title>{esc(tip)}</title></circle>"
    )


def _projection(
    known: Sequence[Mapping[str, Any]], forecast: Mapping[str, Any] | None
) -> list[tuple[float, float]]:
    """The forecast line from the last sample towards zero (at most 3x the history's span)."""
    if not forecast or forecast.get("seconds_to_critical") is None:
        return []
    t0, t1 = float(known[0]["ts"]), float(known[-1]["ts"])
    ahead = min(float(forecast["seconds_to_critical"]), 3 * max(t1 - t0, 60.0))
    level, slope = float(forecast["headroom_bytes"]), float(forecast["slope_bytes_per_second"])
    return [(t1, level), (t1 + ahead, level + slope * ahead)]


def _stamp(moment: float, fmt: str = "%m-%d %H:%M") -> str:
    return time.strftime(fmt, time.gmtime(moment))


def trend_chart(
    points: Sequence[Mapping[str, Any]], forecast: Mapping[str, Any] | None, margin: float
) -> str:
    """Headroom over time (history), cleanups marked, the forecast line towards zero, and the
    margin and zero lines when the chart's range reaches them."""
    title = "Headroom over time and forecast"
    known = [p for p in points if p.get("headroom") is not None]
    if len(known) < 2:
        body = [_text(0, 16, title, size=14), _text(0, 44, "not enough history yet for a trend")]
        return _svg(60, body, title)
    projection = _projection(known, forecast)
    xs = [float(p["ts"]) for p in known] + [x for x, _ in projection]
    ys = [float(p["headroom"]) for p in known] + [y for _, y in projection]
    limits = [(margin, "margin", "margin"), (0.0, "zero: the fork fails", "short")]
    shown = [limit for limit in limits if limit[0] >= min(ys) - 0.05 * (max(ys) - min(ys))]
    ys += [value for value, _, _ in shown]
    frame = _Frame(min(xs), max(max(xs), min(xs) + 1), min(ys), max(max(ys), min(ys) + 1))
    body = [_text(0, 16, title, size=14)]
    for i in range(5):
        value = frame.y_min + (frame.y_max - frame.y_min) * i / 4
        body.append(frame.hline(value, COLOURS["grid"]))
        body.append(_text(frame.left - 6, frame.y(value) + 4, format_bytes(value), "end", 11))
        moment = frame.x_min + (frame.x_max - frame.x_min) * i / 4
        anchor = ("start", "middle", "middle", "middle", "end")[i]
        body.append(_text(frame.x(moment), frame.height - 24, _stamp(moment), anchor, 11))
    for value, name, colour in shown:
        body.append(frame.hline(value, COLOURS[colour], 2, "6 4"))
        body.append(_text(WIDTH - frame.right - 4, frame.y(value) - 4, name, "end", 11))
    if len(shown) < len(limits):
        note = "zero and margin are below this chart's range"
        body.append(_text(WIDTH - frame.right - 4, frame.top + 12, note, "end", 11))
    path = " ".join(f"{frame.x(p['ts']):.1f},{frame.y(p['headroom']):.1f}" for p in known)
    body.append(
        f'<polyline points="{path}" fill="none" stroke="{COLOURS["bar"]}" stroke-width="2"/>'
    )
    for p in known:
        tip = f"{_stamp(p['ts'], '%Y-%m-%d %H:%M:%S')} UTC: {format_bytes(p['headroom'])}"
        colour, radius = (COLOURS["room"], 5.0) if p.get("cleanup") else (COLOURS["bar"], 2.5)
        body.append(_circle(frame.x(p["ts"]), frame.y(p["headroom"]), radius, colour, tip))
    if projection:
        (a, b), (c, d) = projection
        body.append(
            _line(frame.x(a), frame.y(b), frame.x(c), frame.y(d), COLOURS["forecast"], 2, "3 3")
        )
    legend = "blue: headroom samples; green dots: cleanups; purple dashes: forecast"
    body.append(_text(frame.left, frame.height - 6, legend, size=11))
    return _svg(frame.height, body, title)
