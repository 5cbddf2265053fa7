"""SIGTERM during a rescue: it interrupts the rescue, never the putting back of settings."""

from __future__ import annotations

import contextlib
import os
import signal

from janitor.app.rescue.steps import RescueInterruptedError, SigtermGuard


def test_a_swallowed_sigterm_still_interrupts_the_rescue() -> None:
    """A raise from the handler can be swallowed (e.g. inside logging's emit); the flag stays."""
    guard = SigtermGuard()
    with guard:
        with contextlib.suppress(RescueInterruptedError):  # as logging's handleError does
            os.kill(os.getpid(), signal.SIGTERM)
        assert guard.interrupted()
        guard.hold()
        assert not guard.interrupted()  # putting the settings back is never interrupted
        os.kill(os.getpid(), signal.SIGTERM)  # held: recorded, not raised
    assert guard.received
