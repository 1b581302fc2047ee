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
        """A new size, and a blank screen: a Textual app redraws all of it, so what shows after is fresh (pyte
        would keep the old rows, and a test could pass on them)."""
        self.screen.resize(lines, columns)
        self.screen.erase_in_display(2)

    def text(self) -> str:
        """The screen now, one line per row."""
        self.pump(self)
        return "\n".join(self.screen.display)

    def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        """The screen once ``needle`` is on it."""
        return self.wait_until(lambda screen: needle in screen, repr(needle), timeout)

    def wait_until(self, check: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        """The screen once ``check(screen)`` holds; ``what`` names it for the failure message."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if check(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"not on the tab's screen after {timeout} s: {what}\n{self.text()}")
