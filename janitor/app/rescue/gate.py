"""What ``run`` does with an instance that refuses writes (MISCONF) before it acts on it.

Its actions would only get ``-MISCONF``. With ``rescue.enabled = true`` the run rescues the
instance (the same rescue as ``redis-janitor rescue``) instead of its normal pass; otherwise it
deletes nothing, reports the persistence section and exits 2 saying to run ``rescue``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.exit_codes import rescue_exit_code
from janitor.app.instance_pass import HeadroomMeter
from janitor.app.rescue.outcome import RevertResult
from janitor.app.rescue.result import rescue_document
from janitor.app.rescue.run import InstanceRescue, rescue_target, writes_refused_section
from janitor.config.settings import Settings
from janitor.core.errors import JanitorError, WritesRefusedError
from janitor.core.logs import get_logger

log = get_logger(__name__)


def refused_error(display: str, section: Mapping[str, Any]) -> WritesRefusedError:
    """The error ``run`` reports for an instance it will not act on because it refuses writes."""
    diagnosis = section.get("diagnosis") or {}
    if diagnosis.get("cause") == "disk":
        hint = "fix the save directory, then BGSAVE; deleting keys would not help"
    else:
        hint = (
            f"run `redis-janitor rescue --url {display}` (it lifts the block, frees memory by "
            "policy, proves a BGSAVE succeeds and restores the settings), or set "
            "rescue.enabled = true so scheduled runs do it"
        )
    return WritesRefusedError(
        f"Redis at {display}: {section['message']} Nothing was deleted.", hint=hint
    )


class MisconfHandling:
    """Checks each instance before its pass; rescues it or reports it (see module docstring)."""

    def __init__(
        self,
        settings: Settings,
        run_id: str,
        dry_run: bool,
        on_refused: Callable[[WritesRefusedError], None] = lambda _error: None,
    ) -> None:
        """``on_refused`` is told of each instance left alone (the CLI prints it at once)."""
        self._on_refused = on_refused
        self._settings = settings
        self._run_id = run_id
        self._dry_run = dry_run
        self.rescues: list[InstanceRescue] = []
        self.failures: list[tuple[str, JanitorError]] = []
        self.sections: dict[str, dict[str, Any]] = {}

    @property
    def found(self) -> bool:
        """True when some instance refused writes."""
        return bool(self.sections)

    @property
    def exit_code(self) -> int:
        """The rescues' worst exit code (0 without rescues)."""
        return rescue_exit_code([rescue.outcome.exit_code for rescue in self.rescues], [])

    def handled(self, target: RedisTarget, meter: HeadroomMeter) -> bool:
        """True when ``target`` refuses writes and was rescued or reported (skip its pass)."""
        section = writes_refused_section(target, self._settings)
        if section is None:
            return False
        self.sections[target.display] = section
        cause = (section.get("diagnosis") or {}).get("cause")
        if self._settings.rescue.enabled:
            log.warning("run.rescuing", cause=cause)
            self.rescues.append(
                rescue_target(
                    target, self._settings, meter, dry_run=self._dry_run, run_id=self._run_id
                )
            )
        else:
            error = refused_error(target.display, section)
            log.error("run.writes_refused", cause=cause, error=error.message)
            self._on_refused(error)
            self.failures.append((target.display, error))
        return True

    def add_to(self, document: dict[str, Any], pending: list[RevertResult]) -> None:
        """Add ``pending_restores``, the persistence of refused instances and any ``rescue``."""
        document["pending_restores"] = [asdict(result) for result in pending]
        for error in document["errors"]:
            if error["instance"] in self.sections:
                error["persistence"] = self.sections[error["instance"]]
                error["hint"] = next(
                    (e.hint for name, e in self.failures if name == error["instance"]), None
                )
        if self.rescues:
            document["rescue"] = rescue_document(self.rescues, [], [], self._run_id, self._dry_run)
