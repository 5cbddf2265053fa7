"""``report --format csv``: the largest keys and the dry-run plan, one row per key.

A key whose escaped text starts with ``= + - @`` (or a tab/CR) gets a leading apostrophe in the
``key`` column so spreadsheets never run it as a formula; ``key_base64`` stays exact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

COLUMNS = (
    "section", "instance", "db", "key", "key_base64", "type", "bytes", "idle_seconds",
    "ttl_seconds", "action", "rule", "planned",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _row(section: str, instance: str, entry: Mapping[str, Any]) -> list[Any]:
    values = {**entry, "section": section, "instance": instance}
    values["key"] = spreadsheet_safe(str(entry["key"]))
    return ["" if values.get(name) is None else values[name] for name in COLUMNS]


def report_csv(document: Mapping[str, Any]) -> str:
    """Rows ``top_key`` (each instance's largest keys), then ``plan``: what the rules match,
    best first, ``planned`` true when a run under the configured goal would act on it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for scan in document["instances"]:
        for entry in scan["top_keys"]:
            writer.writerow(_row("top_key", scan["url"], entry))
    for scan in document["instances"]:
        for entry in (scan.get("plan") or {}).get("actions", []):
            writer.writerow(_row("plan", scan["url"], entry))
    return buffer.getvalue()
