"""The [rescue] settings section."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.config.settings import load_settings
from janitor.core.errors import ConfigError


def test_rescue_defaults_are_off_and_bounded() -> None:
    rescue = load_settings(None, overrides={}, environ={}).rescue

    assert rescue.enabled is False
    assert rescue.state_dir == Path("/var/lib/redis-janitor/rescue")
    assert rescue.bgsave_timeout == 600
    assert rescue.max_rounds == 10
    assert rescue.log_tail_bytes == 65536


def test_rescue_accepts_units_from_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "janitor.toml"
    config.write_text('[rescue]\nenabled = true\nbgsave_timeout = "2m"\nstate_dir = "/srv/st"\n')

    rescue = load_settings(config, environ={"JANITOR_RESCUE__LOG_TAIL_BYTES": "1MiB"}).rescue

    assert rescue.enabled is True
    assert rescue.bgsave_timeout == 120
    assert rescue.state_dir == Path("/srv/st")
    assert rescue.log_tail_bytes == 1 << 20


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_rounds", 0), ("bgsave_timeout", "0s"), ("log_tail_bytes", 10), ("typo", 1)],
)
def test_bad_rescue_settings_are_config_errors(option: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"rescue\.{option}"):
        load_settings(None, overrides={"rescue": {option: value}}, environ={})
