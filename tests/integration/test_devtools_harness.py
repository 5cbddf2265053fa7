"""The browser harness sees what the HTML report test asserts is absent."""

from __future__ import annotations

from pathlib import Path

from tests.support.chromium import load_page


def test_harness_reports_requests_console_errors_and_dialogs(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><img src="http://192.0.2.1/pixel.png">'
        '<script>console.error("boom"); alert(1);</script><p>hello</p></body></html>'
    )
    loaded = load_page(page, "document.body.innerText", tmp_path / "s.png", tmp_path / "profile")
    assert any(url.startswith("http://192.0.2.1/") for url in loaded.requests)
    assert [c["type"] for c in loaded.console] == ["error"]
    assert loaded.dialogs and loaded.dialogs[0]["message"] == "1"
    assert "hello" in loaded.evaluated
