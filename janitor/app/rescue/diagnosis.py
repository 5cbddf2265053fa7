"""Why did the last background save fail? Read the tail of the Redis log and classify it.

The fork may have been refused (``Can't save in background: fork: Cannot allocate memory``:
freeing memory helps) or the disk may have failed (the temp RDB file could not be opened or
written: deleting keys does not help). ``classify_log_lines`` is pure; ``diagnose_misconf`` does
the thin I/O: ``CONFIG GET logfile``/``dir`` and a bounded read of the log's tail.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis

from janitor.adapters.host.locality import url_is_local
from janitor.adapters.redis.info import read_config, read_persistence_state
from janitor.domain.persistence import PersistenceState

Cause = Literal["fork_enomem", "disk", "unknown"]
DEFAULT_TAIL_BYTES = 64 * 1024
MAX_EVIDENCE_LINES = 5

FORK_ENOMEM_TEXT = "Can't save in background: fork: Cannot allocate memory"
DISK_ERROR_TEXTS = (
    "Failed opening the temp RDB file",
    "Failed opening the RDB file",
    "Failed opening .rdb for saving",
    "Write error saving DB on disk",
    "Write error while saving DB",
    "Error moving temp DB file",
    "Failed moving temp DB file",
    "No space left on device",
    "Read-only file system",
)
SAVE_SUCCESS_TEXTS = ("Background saving terminated with success", "DB saved on disk")
OTHER_SAVE_TEXTS = ("Background saving error", "Can't save in background", "Background saving")

ADVICE = {
    "fork_enomem": (
        "free memory on this instance (stale big keys) or give the host more commit room "
        "(swap, vm.overcommit_ratio); `redis-janitor rescue` lifts the write block, frees memory "
        "by policy, proves a BGSAVE succeeds and restores the original settings"
    ),
    "disk": (
        "fix the save directory (CONFIG GET dir: it must exist, be writable and have room), then "
        "run BGSAVE; deleting keys does not help with a disk error, so the janitor deletes nothing"
    ),
    "unknown": (
        "read the Redis log around 'Background saving' for the cause; if memory is short, "
        "`redis-janitor rescue` can free it, otherwise fix the save directory and run BGSAVE"
    ),
}


@dataclass(frozen=True)
class Diagnosis:
    """The cause of a failed save, the log lines that show it, and what to do."""

    cause: Cause
    evidence: list[str] = field(default_factory=list)
    message: str = ""
    advice: str = ""
    log_path: str | None = None

    @property
    def memory_helps(self) -> bool:
        """True unless the cause is a disk error (then deleting keys must not be tried)."""
        return self.cause != "disk"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``diagnosis`` in report, headroom, run and rescue)."""
        return asdict(self)


def unknown(reason: str, log_path: str | None = None) -> Diagnosis:
    """A diagnosis without a cause, saying why none could be found."""
    return Diagnosis(
        cause="unknown",
        message=f"the last background save failed; its cause is not known: {reason}",
        advice=ADVICE["unknown"],
        log_path=log_path,
    )


def _line_kind(line: str) -> str | None:
    if FORK_ENOMEM_TEXT in line:
        return "fork_enomem"
    if any(text in line for text in DISK_ERROR_TEXTS):
        return "disk"
    if any(text in line for text in SAVE_SUCCESS_TEXTS):
        return "success"
    if any(text in line for text in OTHER_SAVE_TEXTS):
        return "other"
    return None


def classify_log_lines(lines: Sequence[str], log_path: str | None = None) -> Diagnosis:
    """Classify by the last line about a save outcome: fork ENOMEM, disk error or success.

    ``evidence`` holds the last few save-related lines up to and including the deciding one.
    """
    relevant = [(index, kind) for index, line in enumerate(lines) if (kind := _line_kind(line))]
    deciding = next(((index, kind) for index, kind in reversed(relevant) if kind != "other"), None)
    if deciding is None:
        return unknown("no line about a failed save in the log's tail", log_path)
    index, kind = deciding
    evidence = [lines[i].rstrip() for i, _ in relevant if i <= index][-MAX_EVIDENCE_LINES:]
    if kind == "success":
        return _with_evidence(
            unknown("the log's last save outcome is a success", log_path), evidence
        )
    cause: Cause = "fork_enomem" if kind == "fork_enomem" else "disk"
    message = (
        "the last background save could not fork: the kernel refused memory for the child "
        "(fork: Cannot allocate memory), so Redis refuses writes until a save succeeds"
        if cause == "fork_enomem"
        else "the last background save failed on disk (see the evidence), so Redis refuses "
        "writes until a save succeeds; freeing memory will not fix it"
    )
    return Diagnosis(cause, evidence, message, ADVICE[cause], log_path)


def _with_evidence(diagnosis: Diagnosis, evidence: list[str]) -> Diagnosis:
    return Diagnosis(
        diagnosis.cause, evidence, diagnosis.message, diagnosis.advice, diagnosis.log_path
    )


def resolve_log_path(logfile: str, server_dir: str) -> Path | None:
    """Where the log is: ``logfile`` as is if absolute, else relative to ``dir``; None: stdout."""
    if not logfile:
        return None
    path = Path(logfile)
    if path.is_absolute():
        return path
    if not server_dir:
        return None
    return Path(server_dir) / path


def read_tail(path: Path, max_bytes: int = DEFAULT_TAIL_BYTES) -> list[str]:
    """The complete lines among the last ``max_bytes`` of ``path`` (a partial first line is
    dropped)."""
    with path.open("rb") as log_file:
        size = log_file.seek(0, os.SEEK_END)
        start = max(0, size - max_bytes)
        log_file.seek(start)
        data = log_file.read(max_bytes)
    if start > 0:
        newline = data.find(b"\n")
        data = data[newline + 1 :] if newline >= 0 else b""
    return data.decode("utf-8", "replace").splitlines()


def diagnose_misconf(
    client: redis.Redis, *, local: bool, tail_bytes: int = DEFAULT_TAIL_BYTES
) -> Diagnosis:
    """Diagnose a failed save from the instance's log (when it is local and readable)."""
    if not local:
        return unknown("the instance is not on this host, so its log cannot be read")
    config = read_config(client, "logfile", "dir")
    if config is None:
        return unknown("CONFIG GET is not permitted, so the log file is not known")
    path = resolve_log_path(config.get("logfile", ""), config.get("dir", ""))
    if path is None:
        return unknown("Redis logs to standard output or syslog, not to a file")
    try:
        lines = read_tail(path, tail_bytes)
    except OSError as error:
        return unknown(f"cannot read the log {path}: {error.strerror}", str(path))
    diagnosis = classify_log_lines(lines, str(path))
    if diagnosis.cause == "disk" and not config.get("dir"):
        return Diagnosis(
            "disk",
            diagnosis.evidence,
            diagnosis.message + "; CONFIG GET dir is empty: the save directory no longer exists",
            diagnosis.advice,
            diagnosis.log_path,
        )
    return diagnosis


def summary_lines(diagnosis: Diagnosis) -> Iterable[str]:
    """Human lines: what is wrong, the evidence, what to do."""
    yield f"cause: {diagnosis.cause} — {diagnosis.message}"
    for line in diagnosis.evidence:
        yield f"  log: {line}"
    yield f"what to do: {diagnosis.advice}"


def persistence_section(
    client: redis.Redis, url: str, tail_bytes: int = DEFAULT_TAIL_BYTES
) -> dict[str, Any]:
    """The ``persistence`` section for report, headroom and run: the state and, when the last
    save failed, the diagnosis (``diagnosis`` is None otherwise)."""
    state = read_persistence_state(client)
    diagnosis = (
        diagnose_misconf(client, local=url_is_local(url), tail_bytes=tail_bytes)
        if state.last_bgsave_failed
        else None
    )
    return {
        **state.to_dict(),
        "diagnosis": diagnosis.to_dict() if diagnosis else None,
        "message": persistence_message(state, diagnosis),
    }


def persistence_message(state: PersistenceState, diagnosis: Diagnosis | None) -> str | None:
    """One sentence on what is wrong with saving and what to do; None when saves are fine."""
    if not state.last_bgsave_failed:
        return None
    cause = diagnosis or unknown("not diagnosed")
    if state.writes_refused:
        return f"writes refused (MISCONF): {cause.message}. What to do: {cause.advice}."
    why = (
        "stop-writes-on-bgsave-error is no"
        if state.stop_writes_on_bgsave_error is False
        else "no save point is configured"
    )
    return (
        f"the last background save failed ({cause.cause}); writes are still accepted because "
        f"{why}, but there is no fresh snapshot. What to do: {cause.advice}."
    )


def with_model_judgement(section: dict[str, Any], fork_fits: bool) -> dict[str, Any]:
    """When the log could not tell the cause, add what the headroom model says.

    ``fork_fits`` is the model's verdict without the persistence state (not critical). Adds
    ``diagnosis.model_judgement`` and appends it to ``message``; other sections are returned as
    they are.
    """
    diagnosis = section.get("diagnosis")
    if not diagnosis or diagnosis.get("cause") != "unknown":
        return section
    judgement = (
        "the headroom model judges that a fork fits now: the save may have failed on disk "
        "(check CONFIG GET dir) or memory was short only for a while"
        if fork_fits
        else "the headroom model judges that a fork (or its copy-on-write) does not fit now: "
        "memory is the likely cause, and `redis-janitor rescue` can free it"
    )
    message = section.get("message")
    return {
        **section,
        "diagnosis": {**diagnosis, "model_judgement": judgement},
        "message": f"{message} {judgement[0].upper()}{judgement[1:]}." if message else message,
    }
