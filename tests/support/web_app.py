"""``vt-tui web`` as a user starts it: a real process on a loopback port, read from the lines it prints, and
browser tabs as textual-serve sees them (a websocket each; tests/support/browser.py is the real browser).

    with WebApp(["--base-url", url]) as web:
        assert web.get("/").status == 403
        with web.tab() as tab:
            tab.wait_for("idle")
            tab.type("hello\\r")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import psutil
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.ports import closed_port
from tests.support.terminal import Terminal

URL_LINE = re.compile(r"Open:\s+(http://\S+/\?token=(\S+))")


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    body: str


class WebApp:
    def __init__(self, args: list[str], *, port: int | None = None, startup_s: float = 60.0) -> None:
        self.args, self.port, self.startup_s = args, port or closed_port(), startup_s
        self.proc: subprocess.Popen[str] | None = None
        self.printed: list[str] = []
        self.url = self.token = ""

    def __enter__(self) -> WebApp:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vt_tui", "web", "--port", str(self.port), *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.printed.append(line.rstrip("\n"))
            if found := URL_LINE.search(line):
                self.url, self.token = found.groups()
            if "Ctrl+C stops it" in line:
                return self
        self.stop()
        raise AssertionError("vt-tui web did not start:\n" + "\n".join(self.printed))

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self, module: str) -> list[psutil.Process]:
        """Its children that run ``python -m module``: the tabs' vt-tui (:mod:`vt_tui.web.tab`), the embedded
        server (:mod:`vt_tui.engines.serve_child`)."""
        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children()
        return [child for child in children if module in child.cmdline()]

    def tab_processes(self) -> list[psutil.Process]:
        return self.processes("vt_tui.web.tab")

    def get(self, path: str, headers: dict[str, str] | None = None) -> Page:
        request = urllib.request.Request(self.root + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Page(response.status, dict(response.headers), response.read().decode(errors="replace"))
        except urllib.error.HTTPError as error:
            return Page(error.code, dict(error.headers), error.read().decode(errors="replace"))

    def tab(self, *, token: str | None = None, size: tuple[int, int] = (120, 36), origin: str | None = None) -> Tab:
        """A tab's websocket, as textual.js opens it (``token`` other than the real one to be refused)."""
        columns, lines = size
        path = f"/ws/{self.token if token is None else token}?width={columns}&height={lines}"
        return Tab(connect(f"ws://127.0.0.1:{self.port}{path}", origin=origin or self.root, open_timeout=10), size)

    def stop(self, signum: int = signal.SIGTERM, *, group: bool = False, timeout: float = 20.0) -> int | None:
        """Send ``signum`` (``group``: to its whole process group, as Ctrl+C in its terminal does) and wait;
        SIGKILL for what is left. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        (os.killpg if group else os.kill)(self.proc.pid, signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise

    def rest_of_output(self) -> str:
        """What it printed after the banner, once it has exited."""
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.read()


class Tab(Terminal):
    """One tab's websocket, open inside ``with``: keys go out as textual.js sends them, the screen comes back as
    frames. A thread reads it all the time, as a browser does (a tab that stops reading stalls its app, and its
    websocket fails the server's heartbeat)."""

    def __init__(self, connecting: connect, size: tuple[int, int]) -> None:
        super().__init__(self._replay, size)
        self.connecting, self.size = connecting, size
        self.socket: ClientConnection | None = None
        self.closed: Any = None  # the close frame, once the server closed the socket
        self.reader: threading.Thread | None = None
        self._frames: list[bytes] = []
        self._played = 0

    def _read(self) -> None:
        assert self.socket is not None
        try:
            for message in self.socket:
                if isinstance(message, bytes):
                    self._frames.append(message)
        except ConnectionClosed:
            pass
        self.closed = self.socket.protocol.close_rcvd

    def _replay(self, _: Terminal) -> None:
        end = len(self._frames)
        for frame in self._frames[self._played : end]:
            self.feed(frame)
        self._played = end

    def send(self, message: list[Any]) -> None:
        assert self.socket is not None, "use the tab inside `with`"
        self.socket.send(json.dumps(message))

    def type(self, text: str) -> None:
        self.send(["stdin", text])

    def wait_closed(self, timeout: float = 10.0) -> Any:
        """The close frame the server sent (None: it sent none)."""
        assert self.reader is not None
        self.reader.join(timeout)
        return self.closed

    def __enter__(self) -> Tab:
        self.socket = self.connecting.__enter__()  # raises InvalidStatus when refused
        self.reader = threading.Thread(target=self._read, name="tab-websocket", daemon=True)
        self.reader.start()
        columns, lines = self.size
        self.send(["resize", {"width": columns, "height": lines}])
        return self

    def __exit__(self, *exc: object) -> None:
        self.connecting.__exit__(None, None, None)
