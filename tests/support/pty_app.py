"""vt-tui as a user runs it: the real app in a pseudo-terminal, driven by keystrokes, read from its screen.

A black box: nothing here knows the app's widgets, so tests written with it survive a restructured UI. The screen
is what a terminal would show (pyte emulates one); ``wait_for`` polls it.

    with PtyApp(["--base-url", url], env) as app:
        app.wait_for("idle")
        app.type("hello\\r")
        app.wait_for("You said: hello")
        app.kill()                      # SIGKILL, as the OOM killer or a dropped SSH session does
"""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import subprocess
import sys
import time

import pyte

KEYS = {"enter": "\r", "escape": "\x1b", "ctrl+r": "\x12", "f8": "\x1b[19~", "f9": "\x1b[20~", "ctrl+q": "\x11"}


class PtyApp:
    def __init__(self, args: list[str], env: dict[str, str], *, size: tuple[int, int] = (100, 30)) -> None:
        self.args, self.env, self.size = args, env, size
        self.screen = pyte.Screen(*size)
        self.stream = pyte.ByteStream(self.screen)
        self.proc: subprocess.Popen[bytes] | None = None
        self._fd = -1

    def __enter__(self) -> PtyApp:
        columns, lines = self.size
        master, slave = pty.openpty()
        env = {**self.env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vt_tui", *self.args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self._fd = master
        os.set_blocking(master, False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _pump(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.stream.feed(data)

    def text(self) -> str:
        """The screen now, one line per row."""
        self._pump()
        return "\n".join(self.screen.display)

    def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if needle in screen:
                return screen
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not on screen after {timeout} s:\n{self.text()}")

    def type(self, text: str) -> None:
        os.write(self._fd, text.encode())

    def press(self, *keys: str) -> None:
        for key in keys:
            self.type(KEYS[key])
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the app's whole session (it and any child it started)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
