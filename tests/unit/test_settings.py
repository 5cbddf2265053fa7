"""Configuration layering, validation and secrets."""

from pathlib import Path

import pytest

from janitor.cli.render.config import masked_settings
from janitor.config.settings import load_settings
from janitor.core.errors import ConfigError, ExitCode


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_valid() -> None:
    settings = load_settings(None, environ={})
    assert settings.scan.count == 1000
    assert settings.scan.samples == 5
    assert settings.report.top == 50


def test_nothing_touches_redis_s_proc_files_unless_asked() -> None:
    """The soft-dirty window writes /proc/<pid>/clear_refs of Redis: opt-in only."""
    assert load_settings(None, environ={}).headroom.dirty_page_window is False


def test_layering_cli_over_env_over_file(tmp_path: Path) -> None:
    config = write(tmp_path / "j.toml", "[scan]\ncount = 10\nsamples = 3\npause = '10ms'\n")
    settings = load_settings(
        config,
        overrides={"scan": {"count": 30, "samples": None}},
        environ={"JANITOR_SCAN__SAMPLES": "7"},
    )
    assert settings.scan.count == 30
    assert settings.scan.samples == 7
    assert settings.scan.pause == pytest.approx(0.01)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.toml", environ={})
    assert caught.value.exit_code == ExitCode.CONFIG
    assert "no such file" in caught.value.problems[0]


def test_typo_in_a_section_is_rejected_with_field_name(tmp_path: Path) -> None:
    config = write(tmp_path / "j.toml", "[scan]\nconut = 10\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert caught.value.problems == ["scan.conut: unknown setting (a typo?)"]


def test_unknown_section_and_env_var_are_rejected(tmp_path: Path) -> None:
    config = write(tmp_path / "j.toml", "[scna]\ncount = 10\n")
    with pytest.raises(ConfigError, match="scna: unknown setting"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="JANITOR_SCAN__CONUT: unknown setting"):
        load_settings(None, environ={"JANITOR_SCAN__CONUT": "1"})


def test_bad_values_say_field_and_reason_but_never_the_value(tmp_path: Path) -> None:
    config = write(
        tmp_path / "j.toml",
        '[redis]\nurls = ["http://x"]\npassword = "hunter2"\n[scan]\ncount = 0\npause = "soon"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    text = "\n".join(caught.value.problems)
    assert "redis.urls: Value error, http://x: unknown scheme 'http' (use redis://" in text
    assert "scan.count: Input should be greater than or equal to 1" in text
    assert "scan.pause:" in text
    assert "hunter2" not in text


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    config = write(tmp_path / "j.toml", "[scan\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, environ={})


def test_password_from_file_and_from_systemd_credentials(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "pw", "s3cret\n")
    secret_file.chmod(0o600)
    config = write(tmp_path / "j.toml", f'[redis]\npassword_file = "{secret_file}"\n')
    assert load_settings(config, environ={}).redis_password() == "s3cret"
    credentials = tmp_path / "creds"
    credentials.mkdir()
    write(credentials / "redis-password", "fromsystemd")
    settings = load_settings(None, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.redis_password() == "fromsystemd"


def test_direct_password_wins_over_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    write(credentials / "redis-password", "fromsystemd")
    settings = load_settings(
        None,
        environ={"CREDENTIALS_DIRECTORY": str(credentials), "JANITOR_REDIS__PASSWORD": "envpw"},
    )
    assert settings.redis_password() == "envpw"


def test_unreadable_password_file_is_a_config_error(tmp_path: Path) -> None:
    config = write(tmp_path / "j.toml", f'[redis]\npassword_file = "{tmp_path / "missing"}"\n')
    with pytest.raises(ConfigError, match=r"redis\.password_file: cannot read"):
        load_settings(config, environ={})


def test_masked_settings_hide_passwords_everywhere() -> None:
    settings = load_settings(
        None,
        overrides={"redis": {"urls": ["redis://u:urlsecret@h:1/0"], "password": "pwsecret"}},
        environ={},
    )
    shown = str(masked_settings(settings))
    assert "urlsecret" not in shown
    assert "pwsecret" not in shown
    assert "redis://u:***@h:1/0" in shown


def test_a_url_is_named_with_its_password_masked_even_when_it_does_not_parse() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, overrides={"redis": {"urls": ["redis://u:pw1@h:99999/x"]}}, environ={})
    (problem,) = caught.value.problems
    assert problem.startswith("redis.urls: ")
    assert "redis://u:***@h:99999/x: the port must be a number between 1 and 65535" in problem
    assert "pw1" not in problem


def test_a_password_file_others_may_read_is_refused(tmp_path: Path) -> None:
    secret_file = write(tmp_path / "pw", "s3cret\n")
    for mode in (0o640, 0o604):
        secret_file.chmod(mode)
        with pytest.raises(ConfigError, match=rf"redis.password_file: .* has mode {mode:04o}"):
            load_settings(None, {"redis": {"password_file": secret_file}}, environ={})
    secret_file.chmod(0o400)
    settings = load_settings(None, {"redis": {"password_file": secret_file}}, environ={})
    assert settings.redis_password() == "s3cret"
