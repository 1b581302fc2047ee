"""A terminal screen that tests read: pyte fed with the bytes an app wrote, and a wait for text to appear.

For the app as a browser tab receives it (tests/support/web_app.py, tests/support/browser.py): textual-serve
relays the app's output as websocket frames, which these replay as the page's xterm.js does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pyte


class Terminal:
    """``pump`` feeds whatever arrived since the last look; ``wait_for`` polls the screen through it."""

    def __init__(self, pump: Callable[[Terminal], None], size: tuple[int, int] = (80, 24)) -> None:
        self.pump = pump
        self.screen = pyte.Screen(*size)
        self.stream = pyte.ByteStream(self.screen)

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)

    def resize(self, columns: int, lines: int) -> None:
        self.screen.resize(lines, columns)

    def text(self) -> str:
        """The screen now, one line per row."""
        self.pump(self)
        return "\n".join(self.screen.display)

    def wait_for(self, needle: str, timeout: float = 60.0, *, gone: bool = False) -> str:
        """The screen once ``needle`` is on it (``gone``: once it is not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if (needle in screen) != gone:
                return screen
            time.sleep(0.05)
        state = "still on" if gone else "not on"
        raise AssertionError(f"{needle!r} {state} the tab's screen after {timeout} s:\n{self.text()}")
