"""A real sd_notify receiver for the tests: an AF_UNIX datagram socket, like systemd's.

A thread reads continuously (as PID 1 does), so senders never block on a full queue.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

from tests.support.redis_server import wait_for


class NotifyListener:
    """Binds a datagram socket (a path, or an abstract name) and collects what is sent to it."""

    def __init__(self, address: Path | str) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if isinstance(address, Path):
            self.socket.bind(str(address))
            self.env_value = str(address)
        else:
            self.socket.bind(b"\0" + address.encode())
            self.env_value = "@" + address
        self.socket.settimeout(0.05)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                message = self.socket.recv(65536).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append(message)

    def drain(self) -> list[str]:
        """Everything received so far, in order."""
        with self._lock:
            return list(self.messages)

    def count(self, line: str) -> int:
        """How many messages so far contain the assignment ``line`` (e.g. ``WATCHDOG=1``)."""
        return sum(line in message.splitlines() for message in self.drain())

    def wait_until(
        self, condition: Callable[[], bool], timeout: float = 15, what: str = ""
    ) -> None:
        """Poll until ``condition()`` holds."""
        wait_for(condition, timeout=timeout, what=what)

    def close(self) -> None:
        """Stop the reader and close the socket."""
        self._closed.set()
        self._thread.join(timeout=5)
        self.socket.close()
