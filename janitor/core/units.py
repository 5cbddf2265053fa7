"""Sizes (``10MiB``, ``1GB``, bytes) and durations (``30d``, ``12h``, seconds): parse and format."""

from __future__ import annotations

import re

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_DURATION_UNITS: dict[str, float] = {
    "": 1,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_NUMBER_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)\s*$")


def parse_size(text: str | int) -> int:
    """Return the number of bytes in ``text`` (``"10MiB"``, ``"1GB"``, ``"512"`` or an int).

    Raises ValueError with a readable reason for anything else.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    match = _NUMBER_WITH_UNIT.match(str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (examples: 512, 64KiB, 10MiB, 1GB)")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_duration(text: str | int | float) -> float:
    """Return the number of seconds in ``text`` (``"30d"``, ``"12h"``, ``"90"`` or a number)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    match = _NUMBER_WITH_UNIT.match(str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _DURATION_UNITS:
        raise ValueError(f"{text!r} is not a duration (examples: 90, 30s, 15m, 12h, 30d)")
    return float(match.group(1)) * _DURATION_UNITS[unit]


def format_bytes(size: int | float) -> str:
    """Return ``size`` in binary units for people, e.g. ``"1.5 MiB"``."""
    value = float(size)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{sign}{value:.0f} {unit}" if unit == "B" else f"{sign}{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as a short human duration, e.g. ``"3d 4h"`` or ``"45s"``."""
    remaining = int(seconds)
    if remaining < 60:
        return f"{remaining}s"
    parts: list[str] = []
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        count, remaining = divmod(remaining, length)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2])
