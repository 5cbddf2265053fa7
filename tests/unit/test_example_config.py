"""The annotated example configuration stays valid and documents every option."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from janitor.config.settings import Settings, load_settings

EXAMPLE = Path(__file__).parents[2] / "config" / "janitor.example.toml"


def test_example_config_is_valid() -> None:
    load_settings(EXAMPLE, environ={})


def test_example_config_mentions_every_option() -> None:
    text = EXAMPLE.read_text()
    sections = re.split(r"^\[(\w+)\]$", text, flags=re.MULTILINE)
    documented = {sections[i]: sections[i + 1] for i in range(1, len(sections), 2)}
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert section in documented, f"[{section}] missing from the example"
        for option in model.model_fields:
            pattern = rf"^#? ?{option} = "
            assert re.search(pattern, documented[section], re.MULTILINE), f"{section}.{option}"
