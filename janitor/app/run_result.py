"""The ``run`` result document (JSON contract) and the exit code of a run."""

from __future__ import annotations

from typing import Any

from janitor.app.instance_pass import HeadroomSnapshot, PassResult
from janitor.app.report import SCHEMA_VERSION
from janitor.core.errors import ExitCode, JanitorError


def run_document(
    results: list[PassResult],
    failures: list[tuple[str, JanitorError]],
    run_id: str,
    dry_run: bool,
) -> dict[str, Any]:
    """The ``run --format json`` document: before, after, actions, freed_bytes (+ per instance)."""
    actions = []
    for result in results:
        for outcome in result.outcomes:
            actions.append({**outcome.to_dict(), "instance": result.instance})
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "dry_run": dry_run,
        "before": headroom_section([result.before for result in results]),
        "after": headroom_section([result.after for result in results]),
        "actions": actions,
        "freed_bytes": sum(result.freed_bytes for result in results),
        "instances": [result.to_dict() for result in results],
        "errors": [
            {"instance": name, "exit_code": int(error.exit_code), "message": error.message}
            for name, error in failures + _after_acting(results)
        ]
        + [
            {"instance": result.instance, "exit_code": int(ExitCode.CRITICAL), "message": message}
            for result in results
            for message in result.errors
        ],
    }


def _after_acting(results: list[PassResult]) -> list[tuple[str, JanitorError]]:
    """Failures that came after an instance's actions had run (they ran: the result stands)."""
    return [(result.instance, result.error) for result in results if result.error is not None]


def headroom_section(snapshots: list[HeadroomSnapshot]) -> dict[str, Any]:
    """A headroom object as ``headroom --format json`` has it: verdict, host, instances."""
    verdicts = [snapshot.verdict for snapshot in snapshots]
    worst = next((v for v in ("critical", "warn") if v in verdicts), "ok")
    host = next((snapshot.host for snapshot in snapshots if snapshot.host is not None), None)
    return {
        "verdict": worst,
        "host": host,
        "instances": [snapshot.document for snapshot in snapshots],
    }
