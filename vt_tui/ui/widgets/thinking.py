"""A reply's thinking, above its answer: live while the model thinks, then folded to one line.

While thinking streams, the block shows its last few lines, dim, and follows the end: only the tail that fits is
wrapped and drawn, so a frame costs the same at the 10,000th token of a thought as at the 10th (the reply's own
frame clock, ``AssistantMessage.draw``, decides when). Once the answer starts, the block folds to one line
("Thought for 3.2 s · 812 tokens ▸"); Ctrl+T (on the reply in view) or a click opens the whole thought, Alt+T
opens or folds every reply's. A thought that never ended (no answer) stays open: it is all the reply has.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from vt_tui.core.sanitize import inert

LIVE_LINES = 6  # lines of a thought shown while it streams
FOLDED, OPENED = "▸", "▾"


class ThinkingBlock(Vertical):
    """The thinking of one reply. ``live``: thinking is still arriving; ``shown``: its text is on screen."""

    DEFAULT_CSS = f"""
    ThinkingBlock {{
        height: auto;
        margin: 0 0 1 0;
    }}
    ThinkingBlock > .thinking-head {{
        height: 1;
        color: $text-muted;
        text-style: italic;
    }}
    ThinkingBlock > .thinking-body {{
        height: auto;
        color: $text-muted;
        text-style: italic;
        border-left: vkey $foreground 20%;
        padding: 0 0 0 1;
    }}
    ThinkingBlock.-live > .thinking-body {{
        max-height: {LIVE_LINES};
    }}
    """

    def __init__(self, text: str = "", summary: str = "Thought", *, live: bool = False, shown: bool = False) -> None:
        super().__init__()
        self._parts = [inert(text)]
        self.summary = summary
        self.live = live
        self.shown = shown
        self.head = Static(classes="thinking-head")
        self.body = Static(classes="thinking-body")

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0]

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.body

    def on_mount(self) -> None:
        self.refresh_view()
        self.call_after_refresh(self.refresh_view)  # once laid out, the live tail wraps to its real width

    def add(self, fragment: str) -> None:
        """More thinking (drawn by the reply's next frame: :meth:`draw_live`)."""
        self._parts.append(inert(fragment))

    def draw_live(self) -> None:
        """The last lines of the thought, wrapped to the width they have: the cost of a frame is bounded."""
        if not self.shown:
            return
        width = self.body.content_region.width or 80
        tail = self.text[-LIVE_LINES * width * 2 :].strip()
        lines = Text("\n".join(tail.splitlines()[-LIVE_LINES:])).wrap(self.app.console, width)
        self.body.update(Text("\n").join(lines[-LIVE_LINES:]))

    def summarize(self, summary: str) -> None:
        """The one-line summary: how long the model thought, and how many tokens."""
        self.summary = summary
        if not self.live:
            self._show_head()

    def settle(self, shown: bool) -> None:
        """The thinking is over (the answer started, or the reply ended): folded, or open in full."""
        self.live = False
        self.shown = shown
        self.refresh_view()

    def resume(self) -> None:
        """Thinking again (a later agent step), open or folded as the user left it."""
        self.live = True
        self.refresh_view()

    def toggle(self, shown: bool | None = None) -> None:
        """Open or fold the thought (``shown`` sets it either way)."""
        self.shown = not self.shown if shown is None else shown
        self.refresh_view()

    def refresh_view(self) -> None:
        self.set_class(self.live, "-live")
        self.body.display = self.shown
        self._show_head()
        if self.live:
            self.draw_live()
        elif self.shown:
            self.body.update(Text(self.text.strip()))

    def _show_head(self) -> None:
        what = "Thinking…" if self.live else self.summary
        self.head.update(Text(f"{what} {OPENED if self.shown else FOLDED}"))

    def on_click(self, event: events.Click) -> None:
        if event.widget is self.head:
            self.toggle()
