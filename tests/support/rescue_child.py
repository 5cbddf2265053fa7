"""A rescue in a child process that pauses right after lifting the write block.

Run as ``python -m tests.support.rescue_child URL STATE_DIR MARKER``: when the block is lifted it
creates MARKER and sleeps, so a test can SIGKILL or SIGTERM it at exactly that point. On exit it
prints one line ``outcome <json>`` and exits with the rescue's exit code.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.rescue.procedure import rescue_instance
from janitor.config.settings import load_settings

PAUSE_SECONDS = 120


def main(url: str, state_dir: str, marker: str) -> int:
    """Rescue ``url``, pausing after step 2 until killed or PAUSE_SECONDS pass."""
    settings = load_settings(None, overrides={"redis": {"urls": [url]}}, environ={})

    def pause() -> None:
        Path(marker).touch()
        time.sleep(PAUSE_SECONDS)

    outcome = rescue_instance(
        RedisTarget(url, settings),
        settings,
        free_memory=lambda needed: 0,
        headroom_ok=lambda: True,
        state_dir=Path(state_dir),
        dry_run=False,
        after_block_lifted=pause,
    )
    print("outcome " + json.dumps(outcome.to_dict()), flush=True)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
