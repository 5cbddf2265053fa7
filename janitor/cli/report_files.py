"""``report --format html|csv``: the full report written as one page or one CSV file."""

from __future__ import annotations

import sys
from pathlib import Path

from janitor.adapters.files.durable import replace_atomically
from janitor.app.context import AppContext
from janitor.app.full_report import full_report
from janitor.cli.journal_lines import failure_noted
from janitor.cli.progress import progress_board
from janitor.cli.render.csv_report import report_csv
from janitor.cli.render.html_report import render_html
from janitor.core.errors import ExitCode, UsageError
from janitor.core.logs import get_logger, redact

log = get_logger(__name__)


def write_report_file(app: AppContext, fmt: str, output: Path | None) -> int:
    """Measure, scan and plan (changing nothing); write the page or CSV to ``output`` or stdout."""
    with progress_board() as bar:
        document, failures = full_report(app, bar)
    for error in failures:
        failure_noted(error)  # the loop logged instance.failed
    text = redact(render_html(document) if fmt == "html" else report_csv(document))
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            replace_atomically(output, text.encode(), 0o644)
        except OSError as error:
            raise UsageError(f"--output: cannot write {output}: {error.strerror}") from None
        log.info("report.written", path=str(output), format=fmt)
    return int(failures[0].exit_code) if failures else ExitCode.OK
