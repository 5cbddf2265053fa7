"""The pure headroom model: host view, margins, predictions, remote instances."""

from __future__ import annotations

from dataclasses import replace

from janitor.app.headroom import InstanceHeadroom, assess_all, predict_after_freeing
from janitor.domain.headroom_model import HeadroomPolicy, HostFacts, InstanceFacts, Verdict, assess

GIB = 1 << 30


def mode2_host(limit: int = 20 * GIB, committed: int = 6 * GIB) -> HostFacts:
    return HostFacts(
        kernel_release="6.8.0",
        kernel_version=(6, 8, 0),
        overcommit_memory=2,
        overcommit_ratio=50,
        overcommit_kbytes=0,
        admin_reserve_bytes=8 << 20,
        user_reserve_bytes=128 << 20,
        total_reserve_bytes=100 << 20,
        meminfo={
            "MemTotal": 32 * GIB,
            "MemAvailable": 20 * GIB,
            "CommitLimit": limit,
            "Committed_AS": committed,
            "SwapTotal": 0,
        },
    )


def redis(charge: int = 4 * GIB, rss: int = 4 * GIB, **changes: object) -> InstanceFacts:
    facts = InstanceFacts(
        url="redis://127.0.0.1:6379",
        pid=10,
        local=True,
        host_known=True,
        estimated=False,
        fork_charge_bytes=charge,
        largest_mapping_bytes=charge,
        rss_bytes=rss,
        vm_size_bytes=charge + GIB,
        has_cap_sys_admin=True,
        last_cow_bytes=GIB,
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


NO_MARGIN = HeadroomPolicy(margin_bytes=0, margin_percent=None, counter_margin_fraction=0)


def test_overlapping_saves_add_their_fork_charges() -> None:
    host = mode2_host(limit=20 * GIB, committed=10 * GIB)
    a, b = redis(), replace(redis(), url="redis://127.0.0.1:6380", pid=11)
    alone = assess(host, a, NO_MARGIN)
    together = assess(host, a, NO_MARGIN, peers=[b])
    reserve = 128 << 20  # min(VmSize/32, user_reserve)
    assert alone.commit_headroom_bytes == 20 * GIB - reserve - 10 * GIB - 4 * GIB
    assert together.commit_headroom_bytes == 20 * GIB - reserve - 10 * GIB - 8 * GIB
    assert together.cow_headroom_bytes == 20 * GIB - 2 * GIB
    assert any("overlap" in reason for reason in together.reasons)
    separate = replace(NO_MARGIN, saves_overlap=False)
    assert assess(host, a, separate, peers=[b]).commit_headroom_bytes == (
        alone.commit_headroom_bytes
    )


def test_host_view_in_assess_all_makes_both_instances_critical() -> None:
    host = mode2_host(limit=20 * GIB, committed=10 * GIB)
    big = [redis(charge=5 * GIB), replace(redis(charge=5 * GIB), pid=11)]
    results = assess_all(host, big, NO_MARGIN)
    assert [r.verdict for r in results] == [Verdict.CRITICAL, Verdict.CRITICAL]
    alone = assess_all(host, big[:1], NO_MARGIN)
    assert alone[0].verdict is Verdict.OK


def test_margin_in_bytes_or_percent_decides_warn() -> None:
    host = mode2_host(limit=20 * GIB, committed=10 * GIB)
    facts = redis(charge=4 * GIB)  # headroom = 6 GiB - 128 MiB
    assert assess(host, facts, replace(NO_MARGIN, margin_bytes=5 * GIB)).verdict is Verdict.OK
    assert assess(host, facts, replace(NO_MARGIN, margin_bytes=7 * GIB)).verdict is Verdict.WARN
    percent = replace(NO_MARGIN, margin_percent=25.0)  # 8 GiB of 32 GiB
    result = assess(host, facts, percent)
    assert result.verdict is Verdict.WARN
    assert result.margin_bytes == 8 * GIB


def test_mode2_need_to_free_halves_the_deficit_and_prediction_agrees() -> None:
    host = mode2_host(limit=20 * GIB, committed=15 * GIB)
    result = InstanceHeadroom(assess(host, redis(charge=6 * GIB), NO_MARGIN))
    headroom = 20 * GIB - (128 << 20) - 15 * GIB - 6 * GIB
    assert result.assessment.commit_headroom_bytes == headroom < 0
    assert result.need_to_free_bytes == -headroom // 2
    after = predict_after_freeing(result, result.need_to_free_bytes)
    assert after["commit_headroom_bytes"] == 0
    assert after["fork_charge_bytes"] == 6 * GIB - result.need_to_free_bytes
    assert after["rss_bytes"] == 4 * GIB - result.need_to_free_bytes
    assert after["cow_estimate_bytes"] == GIB  # measured COW is kept


def test_mode0_old_kernel_freeing_moves_rss_not_the_charge() -> None:
    host = replace(
        mode2_host(),
        kernel_version=(3, 10, 0),
        overcommit_memory=0,
        meminfo={
            "MemTotal": 8 * GIB,
            "MemFree": GIB,
            "MemAvailable": 3 * GIB,
            "Buffers": 0,
            "Cached": GIB,
            "SwapCached": 0,
            "Shmem": 0,
            "SwapFree": 0,
            "SReclaimable": 0,
        },
    )
    result = InstanceHeadroom(assess(host, redis(charge=3 * GIB), NO_MARGIN))
    headroom = 2 * GIB - (100 << 20) - 3 * GIB  # free estimate - totalreserve - mapping
    assert result.assessment.commit_headroom_bytes == headroom
    assert result.need_to_free_bytes == -headroom
    after = predict_after_freeing(result, GIB)
    assert after["fork_charge_bytes"] == 3 * GIB
    assert after["rss_bytes"] == 3 * GIB
    assert after["commit_headroom_bytes"] == headroom + GIB


def test_mode0_new_kernel_oversized_mapping_cannot_be_fixed_by_freeing() -> None:
    host = replace(mode2_host(), overcommit_memory=0)
    huge = redis(charge=40 * GIB)
    result = assess(host, huge, NO_MARGIN)
    assert result.verdict is Verdict.CRITICAL
    assert result.need_to_free_bytes == 0
    assert any("restart Redis" in reason for reason in result.reasons)


def test_cow_guess_for_an_instance_that_never_forked_shrinks_with_rss() -> None:
    host = replace(mode2_host(), overcommit_memory=1)
    fresh = redis(rss=30 * GIB, last_cow_bytes=None)
    policy = replace(NO_MARGIN, cow_fraction=0.8)
    result = InstanceHeadroom(assess(host, fresh, policy))
    assert result.assessment.cow_estimate_bytes == int(30 * GIB * 0.8)
    assert result.verdict is Verdict.CRITICAL
    deficit = int(30 * GIB * 0.8) - 20 * GIB
    assert result.need_to_free_bytes == -(-deficit // 1.8)
    after = predict_after_freeing(result, result.need_to_free_bytes)
    assert after["cow_headroom_bytes"] >= 0
    assert after["cow_estimate_bytes"] < result.assessment.cow_estimate_bytes


def test_remote_instance_is_a_labelled_warning_without_host_figures() -> None:
    remote = redis(host_known=False, local=False, estimated=True, notes=("not on this host",))
    result = assess(mode2_host(), remote, NO_MARGIN)
    assert result.verdict is Verdict.WARN
    assert result.commit_headroom_bytes is None
    assert result.cow_headroom_bytes is None
    assert result.reasons[0] == "estimated: not on this host"


def test_unknown_cap_is_treated_as_missing() -> None:
    host = mode2_host(limit=20 * GIB, committed=10 * GIB)
    known = assess(host, redis(), NO_MARGIN).commit_headroom_bytes
    unknown = assess(host, redis(has_cap_sys_admin=None), NO_MARGIN).commit_headroom_bytes
    assert known is not None and unknown is not None
    assert known - unknown == 8 << 20


def test_verdict_exit_codes() -> None:
    assert [v.exit_code for v in Verdict] == [0, 1, 2]
    assert Verdict("warn") is Verdict.WARN


def test_mode0_with_unknown_kernel_release_is_not_guessed() -> None:
    host = replace(mode2_host(), overcommit_memory=0, kernel_version=None, kernel_release=None)
    result = assess(host, redis(), NO_MARGIN)
    assert result.verdict is Verdict.WARN
    assert result.commit_headroom_bytes is None
    assert any("kernel release unknown" in reason for reason in result.reasons)
