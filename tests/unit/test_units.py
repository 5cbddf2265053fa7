"""Sizes and durations as operators write them."""

import pytest

from janitor.core.units import format_bytes, format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512", 512),
        ("10MiB", 10 * 1024**2),
        ("1GB", 10**9),
        ("64kib", 65536),
        (7, 7),
        ("1.5k", 1500),
    ],
)
def test_parse_size_accepts_units(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["ten", "10XB", "-1", "", "1 2"])
def test_parse_size_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", 30 * 86400), ("12h", 43200), ("90", 90), ("15m", 900), ("250ms", 0.25), (2, 2)],
)
def test_parse_duration_accepts_units(text: str | int, expected: float) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_formatting_for_people() -> None:
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(12) == "12 B"
    assert format_duration(3 * 86400 + 4 * 3600 + 5) == "3d 4h"
    assert format_duration(45) == "45s"
