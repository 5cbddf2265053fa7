"""A headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

No port, no websocket library: Chromium reads NUL-terminated JSON commands on fd 3 and writes
replies and events on fd 4. ``load_page`` opens one file and returns what a test checks: the
requests the page made, console messages, exceptions, dialogs, an evaluated expression and a
full-page screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
)
TIMEOUT = 60.0


def chromium_binary() -> str:
    """The Chromium on PATH (Debian's ``chromium``); fails the test clearly when missing."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("chromium is not installed (apt-get install chromium; .ci/run does)")


@dataclass
class PageResult:
    """What loading one page produced."""

    requests: list[str] = field(default_factory=list)
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    dialogs: list[dict[str, Any]] = field(default_factory=list)
    evaluated: Any = None


class DevTools:
    """One Chromium process and its DevTools pipe."""

    def __init__(self, user_data_dir: Path) -> None:
        to_chrome_read, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_write = os.pipe()

        def wire_pipes() -> None:  # runs in the child before exec: fds 3 and 4 are the pipe
            os.dup2(to_chrome_read, 3)
            os.dup2(from_chrome_write, 4)

        self.process = subprocess.Popen(
            [chromium_binary(), *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),
        )
        os.close(to_chrome_read)
        os.close(from_chrome_write)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._condition = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._condition:
                        self._replies[message["id"]] = message
                        self._condition.notify_all()
                else:
                    self._events.put(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Send one command and return its result (raise on a protocol error)."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self._to_chrome, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._condition:
            while self._next_id not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no reply to {method}")
                self._condition.wait(remaining)
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def events_until(self, method: str, result: PageResult) -> None:
        """Collect events into ``result`` until ``method`` arrives (or the deadline passes)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} event")
            try:
                event = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            _collect(event, result)
            if event["method"] == "Page.javascriptDialogOpening":  # a dialog blocks the load
                self.send("Page.handleJavaScriptDialog", {"accept": True}, event["sessionId"])
            if event["method"] == method:
                return

    def drain(self, result: PageResult) -> None:
        """Collect the events that already arrived."""
        while not self._events.empty():
            _collect(self._events.get_nowait(), result)

    def close(self) -> None:
        """Close the browser (politely, then for sure)."""
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)


def _collect(event: dict[str, Any], result: PageResult) -> None:
    method, params = event["method"], event.get("params", {})
    if method == "Network.requestWillBeSent":
        result.requests.append(params["request"]["url"])
    elif method == "Runtime.consoleAPICalled":
        result.console.append(params)
    elif method == "Runtime.exceptionThrown":
        result.exceptions.append(params)
    elif method == "Log.entryAdded":
        result.log_entries.append(params["entry"])
    elif method == "Page.javascriptDialogOpening":
        result.dialogs.append(params)


def load_page(
    page: Path, expression: str, screenshot: Path, user_data_dir: Path, width: int = 1400
) -> PageResult:
    """Open ``page``, evaluate ``expression`` (JSON-able result), save a full-page screenshot."""
    browser = DevTools(user_data_dir)
    result = PageResult()
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Network", "Runtime", "Log", "Page"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session)
        browser.events_until("Page.loadEventFired", result)
        evaluated = browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
        )
        result.evaluated = evaluated["result"].get("value")
        height = browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["height"]
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        browser.drain(result)
    finally:
        browser.close()
    return result
