"""Where the COW model plugs in: the THP mode from a recorded /sys, and the headroom model."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.adapters.host.memory import ProcReader
from janitor.app.cow import with_cow_prediction
from janitor.app.headroom import InstanceHeadroom
from janitor.domain.cow_model import CowPrediction
from janitor.domain.headroom_model import HeadroomPolicy, assess
from janitor.domain.procfs import parse_thp_mode
from tests.unit.test_headroom_model import GIB, mode2_host, redis

SYS = Path(__file__).parents[1] / "fixtures" / "sys"
NO_MARGIN = HeadroomPolicy(margin_bytes=0, margin_percent=None, counter_margin_fraction=0)


@pytest.mark.parametrize(
    ("tree", "mode"),
    [
        ("thp-always", "always"),
        ("thp-madvise", "madvise"),
        ("thp-never", "never"),
        ("no-thp", None),
    ],
)
def test_thp_mode_is_read_below_the_sys_root(tree: str, mode: str | None) -> None:
    assert ProcReader(sys_root=SYS / tree).thp_enabled() == mode


def test_an_unparsable_thp_file_is_unknown_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "kernel" / "mm" / "transparent_hugepage" / "enabled"
    path.parent.mkdir(parents=True)
    path.write_text("always madvise never\n")
    unknown: list[str] = []
    assert ProcReader(sys_root=tmp_path).thp_enabled(unknown) is None
    assert "cannot parse" in unknown[0]
    with pytest.raises(ValueError, match="no \\[selected\\] mode"):
        parse_thp_mode("always madvise never")


def test_the_headroom_model_takes_the_expected_cow_and_its_reasons() -> None:
    prediction = CowPrediction(
        "rdb", 3 * GIB, False, 4, "history", ("write rate 5000/s from rdb_changes_since_last_save",)
    )
    facts = redis(cow=prediction)
    assessment = assess(mode2_host(), facts, NO_MARGIN)
    assert assessment.cow_estimate_bytes == 3 * GIB
    assert assessment.cow_headroom_bytes == 20 * GIB - 3 * GIB
    assert any("history, 4 save(s) observed" in reason for reason in assessment.reasons)
    assert "copy-on-write model: write rate 5000/s" in " ".join(assessment.reasons)
    document = InstanceHeadroom(assessment).to_dict()
    assert document["cow_model"]["saves_observed"] == 4
    assert document["cow_estimate_bytes"] == 3 * GIB


def test_without_history_the_headroom_keeps_the_last_cow_and_the_rss_guess() -> None:
    info = {"rdb_last_cow_size": GIB // 2, "aof_last_cow_size": 0}
    measured = with_cow_prediction(
        redis(), info, thp_enabled="never", disable_thp=True, cow_fraction=0.5, now=10.0
    )
    never = with_cow_prediction(
        redis(rss=4 * GIB), {}, thp_enabled=None, disable_thp=None, cow_fraction=0.5, now=10.0
    )
    assert assess(mode2_host(), measured, NO_MARGIN).cow_estimate_bytes == GIB // 2
    guessed = assess(mode2_host(), never, NO_MARGIN)
    assert guessed.cow_estimate_bytes == 2 * GIB
    assert guessed.cow_drop_per_byte == 0.5
