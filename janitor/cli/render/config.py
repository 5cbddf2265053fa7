"""The effective configuration for people and scripts, with every secret masked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from janitor.adapters.redis.connection import mask_url
from janitor.app.report import SCHEMA_VERSION
from janitor.config.settings import DEFAULT_CONFIG_PATH, Settings

MASK = "***"


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Return the settings as plain data; passwords (also inside URLs) become ``***``."""
    data = settings.model_dump(mode="json")
    redis_section = data["redis"]
    redis_section["urls"] = [mask_url(url) for url in settings.redis.urls]
    redis_section["password"] = MASK if settings.redis.password is not None else None
    return dict(data)


def settings_document(settings: Settings) -> dict[str, Any]:
    """Return the ``config check`` JSON document."""
    source = settings.config_file
    return {
        "schema_version": SCHEMA_VERSION,
        "valid": True,
        "config_file": None if source is None else str(source),
        "settings": masked_settings(settings),
    }


def _toml_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_config(document: Mapping[str, Any], console: Console) -> None:
    """Print the effective configuration as TOML (unset options as comments)."""
    lines = ["# effective configuration (valid); secrets are masked"]
    if document.get("config_file"):
        lines.append(f"# read from {document['config_file']}")
    else:
        lines.append(
            "# no configuration file (none given, no $JANITOR_CONFIG, none at "
            f"{DEFAULT_CONFIG_PATH}): using the defaults, with environment and flags on top"
        )
    for section, options in document["settings"].items():
        lines.append(f"\n[{section}]")
        for name, value in options.items():
            if value is None:
                lines.append(f"# {name} = (unset)")
            else:
                lines.append(f"{name} = {_toml_value(value)}")
    console.print("\n".join(lines), markup=False, highlight=False)
