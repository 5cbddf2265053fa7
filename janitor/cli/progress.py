"""Scan progress bars on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

ProgressFn = Callable[[int, int], None]


def _ignore(done: int, total: int) -> None:
    """No progress display (pipes, files, journald)."""


ProgressBar = Callable[[str], AbstractContextManager[ProgressFn]]


@contextmanager
def progress_board(enabled: bool | None = None) -> Iterator[ProgressBar]:
    """Yield ``bar(label)``, a context manager giving one line's ``update(done, total)``.

    All lines share one live display (rich allows one at a time), so instances scanned side by
    side each get their own line; drawn only on a terminal (or when ``enabled``).
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda _label: nullcontext(_ignore)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as board:

        @contextmanager
        def bar(label: str) -> Iterator[ProgressFn]:
            task = board.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                board.update(task, completed=done, total=max(total, done))

            try:
                yield update
            finally:
                board.remove_task(task)

        yield bar
