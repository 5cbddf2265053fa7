"""Reasons for a hidden pid or an unreadable smaps name the real cause and the fix."""

from __future__ import annotations

from pathlib import Path

from janitor.adapters.host.access import access_facts
from janitor.domain.proc_access import (
    AccessFacts,
    has_cap_sys_ptrace,
    hidepid_option,
    invisible_reason,
    other_user_namespace,
    parse_status_uid,
    unreadable_reason,
)

HOST_PROC = "25 30 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:14 - proc proc rw\n"
SERVICE_PROC = (
    HOST_PROC
    + "812 790 0:61 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw,hidepid=invisible\n"
)
INIT_MAP = "         0          0 4294967295\n"
PRIVATE_USERS_MAP = "         0          0          1\n       997        997          1\n"


def facts(**changes: object) -> AccessFacts:
    base: dict[str, object] = {
        "pid": 31,
        "hidepid": None,
        "own_uid": 997,
        "own_uid_map": INIT_MAP,
        "own_has_cap_sys_ptrace": False,
        "target_uid": 997,
        "target_uid_map": INIT_MAP,
        "smaps_error": "Permission denied",
    }
    base.update(changes)
    return AccessFacts(**base)  # type: ignore[arg-type]


def test_hidepid_is_read_from_the_proc_mount_that_is_in_effect() -> None:
    assert hidepid_option(HOST_PROC, "/proc") is None
    assert hidepid_option(SERVICE_PROC, "/proc") == "invisible"
    assert hidepid_option(SERVICE_PROC, "/srv/proc") is None


def test_status_fields() -> None:
    status = "Name:\tredis-server\nUid:\t997\t997\t997\t997\nCapEff:\t0000000000080000\n"
    assert parse_status_uid(status) == 997
    assert has_cap_sys_ptrace(status) is True
    assert has_cap_sys_ptrace("CapEff:\t0000000000000000\n") is False
    assert has_cap_sys_ptrace("Name:\tx\n") is None


def test_hidden_pid_under_protect_proc_points_at_private_users_not_another_host() -> None:
    reason = invisible_reason(facts(hidepid="invisible", target_uid=None, target_uid_map=None))
    assert "pid 31 from INFO is hidden: /proc is mounted hidepid=invisible" in reason
    assert "ProtectProc=invisible" in reason
    assert "PrivateUsers=yes" in reason and "PrivateUsers=no" in reason
    assert "another host" not in reason


def test_missing_pid_without_hidepid_is_another_namespace_or_host() -> None:
    reason = invisible_reason(facts(hidepid=None))
    assert reason.startswith("pid 31 from INFO does not exist here")
    assert "another pid namespace" in reason and "another host" in reason


def test_smaps_denied_for_another_uid_says_run_as_the_redis_user() -> None:
    reason = unreadable_reason(facts(target_uid=110))
    assert "/proc/31/smaps: Permission denied" in reason
    assert "runs as uid 110, the janitor as uid 997" in reason
    assert "lacks CAP_SYS_PTRACE" in reason and "User=/Group=" in reason


def test_smaps_denied_for_the_same_uid_in_a_private_user_namespace() -> None:
    denied = facts(target_uid_map=PRIVATE_USERS_MAP)
    assert other_user_namespace(denied) is True
    reason = unreadable_reason(denied)
    assert "runs in its own user namespace (PrivateUsers=yes" in reason
    assert "the same uid is not enough" in reason
    assert "redis-server.service.d/redis-janitor.conf (PrivateUsers=no)" in reason


def test_smaps_denied_for_the_same_uid_without_namespace_evidence() -> None:
    reason = unreadable_reason(facts(target_uid_map=None))
    assert "same uid 997, but the kernel refuses ptrace-read access" in reason
    assert "PrivateUsers=no" in reason


def test_capability_wording_when_the_janitor_holds_cap_sys_ptrace() -> None:
    reason = unreadable_reason(facts(own_has_cap_sys_ptrace=True, target_uid=110))
    assert "CAP_SYS_PTRACE does not cover it" in reason


def test_access_facts_read_from_a_proc_tree(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "uid_map").write_text(INIT_MAP)
    (tmp_path / "self" / "status").write_text("CapEff:\t0000000000000000\n")
    target = tmp_path / "31"
    target.mkdir()
    (target / "uid_map").write_text(PRIVATE_USERS_MAP)
    (target / "status").write_text("Uid:\t997\t997\t997\t997\n")
    observed = access_facts(tmp_path, 31)
    assert observed.target_uid == 997
    assert observed.own_has_cap_sys_ptrace is False
    assert other_user_namespace(observed) is True
    assert observed.smaps_error == "No such file or directory"
    assert observed.hidepid is None
