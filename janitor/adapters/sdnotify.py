"""systemd's sd_notify protocol: newline-separated ``NAME=value`` datagrams to ``$NOTIFY_SOCKET``.

The socket is an AF_UNIX datagram socket given by path, or by an abstract address written with a
leading ``@``. Without ``NOTIFY_SOCKET`` (not started by systemd, or not ``Type=notify``) every call
is a no-op. A failed send is logged and otherwise ignored: notification never stops the service.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping

from janitor.core.logs import get_logger

log = get_logger(__name__)
SEND_TIMEOUT_SECONDS = 2.0


def notify_address(environ: Mapping[str, str]) -> str | bytes | None:
    """Return the socket address from ``NOTIFY_SOCKET`` (abstract ``@name`` → ``b"\\0name"``)."""
    value = environ.get("NOTIFY_SOCKET", "")
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Return how often to send ``WATCHDOG=1`` (half of ``WATCHDOG_USEC``), in seconds.

    None when the watchdog is off, malformed, or meant for another process (``WATCHDOG_PID``).
    """
    watchdog_pid = environ.get("WATCHDOG_PID")
    if watchdog_pid is not None and watchdog_pid.strip() != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2 / 1_000_000 if usec > 0 else None


class Notifier:
    """Sends state changes to the service manager (thread-safe; no-op when not under systemd)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._address = notify_address(os.environ if environ is None else environ)
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """True when there is a socket to notify."""
        return self._address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``NAME=value`` lines in one datagram; return True when it was sent."""
        if self._address is None:
            return False
        message = "\n".join(assignments).encode()
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    )
                    self._socket.settimeout(SEND_TIMEOUT_SECONDS)  # a stuck receiver can't hang us
                self._socket.sendto(message, self._address)
            except OSError as error:
                log.warning("sdnotify.failed", message=message.decode(), error=str(error))
                return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: start-up finished."""
        return self.send("READY=1", *_status(status))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: still alive."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: shutting down."""
        return self.send("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        """``STATUS=…``: one line for ``systemctl status``."""
        return self.send(*_status(text))

    def close(self) -> None:
        """Close the socket (sending again reopens it)."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _status(text: str | None) -> list[str]:
    return [] if text is None else ["STATUS=" + " ".join(text.splitlines())]
