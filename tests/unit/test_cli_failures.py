"""The entry point's failure contract, in process: an internal error under --format json."""

from __future__ import annotations

import json

import pytest

import janitor.cli.inspect
from janitor.cli.main import format_in_argv, main


def test_format_is_found_even_where_click_cannot_parse() -> None:
    assert format_in_argv(["report", "--format", "json", "--top", "-1"]) == "json"
    assert format_in_argv(["--format=json", "report"]) == "json"
    assert format_in_argv(["report", "--", "--format", "json"]) == "text"
    assert format_in_argv(["report"]) == "text"


def test_an_internal_error_under_json_is_one_error_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(janitor.cli.inspect, "measure_all_headroom", crash)
    with pytest.raises(SystemExit) as ended:
        main(["headroom", "--format", "json", "--url", "redis://127.0.0.1:1"])
    assert ended.value.code == 2
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 2
    assert document["error"]["code"] == "internal"
