"""The status bar: what the app is doing, the model, the last turn's figures, the context in use against the
model's window, the GPU energy of this conversation and this session, the endpoint. Too wide for the terminal, it
drops parts in ``DROP_FIRST`` order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class Phase(StrEnum):
    """What the app is doing, as the status bar's first word says."""

    STARTING = "starting"  # connecting (or starting the embedded server)
    WAITING = "waiting"  # the server is not up yet (refused, loading, no model): retrying with backoff
    IDLE = "idle"
    STREAMING = "streaming"  # a turn is running
    ERROR = "error"  # the last connection or turn failed: the message says why


PHASE_STYLES = {
    Phase.IDLE: "green",
    Phase.STREAMING: "yellow",
    Phase.STARTING: "yellow",
    Phase.WAITING: "yellow",
    Phase.ERROR: "bold red",
}
# The context figure's colour by how full the window is: (share at least, style), the first that applies.
CONTEXT_FILL_STYLES = ((0.9, "bold red"), (0.7, "yellow"), (0.0, "green"))


@dataclass(frozen=True)
class Status:
    """Everything the status bar shows; replaced whole (``StatusBar.show``), so one change is one redraw."""

    phase: Phase = Phase.STARTING
    message: str = ""  # one line next to the phase: an error, "cancelled", the embedded server's progress
    model: str = ""
    figures: str = ""  # the last turn's TTFT, tokens, tok/s
    context_tokens: int = 0  # what the next request carries before the new message
    context_limit: int | None = None  # the model's window, when known
    context_exact: bool = False  # context_tokens counted by the server, not estimated
    speak: bool = False  # replies are read aloud
    endpoint: str = ""
    conversation_wh: float | None = None  # GPU energy of this conversation's measured turns (None: none measured)
    session_wh: float | None = None  # ... of every conversation since vt-tui started


# When the line is wider than the terminal, these parts go, in this order, until it fits; then the message is cut
# in its middle (its end is the countdown or the hint). The phase and its message stay. The endpoint goes first:
# the user chose it and every waiting or error message names it; the last turn's figures are also under the reply;
# energy (the session's, then the conversation's) is worth a glance, the context is what the next prompt must fit
# in; the speaker mark is three cells and says a mode the user would otherwise miss; the model last (while waiting
# or failing, the message is what matters).
DROP_FIRST = ("endpoint", "figures", "session_wh", "conversation_wh", "context", "speak", "model")
SEPARATOR = " │ "


def middle_cut(text: str, width: int) -> str:
    """``text`` in ``width`` cells, cut in the middle: the start says what, the end the countdown or the hint."""
    if cell_len(text) <= width:
        return text
    if width < 2:
        return "…"[:width]
    tail_cells = (width - 1) * 2 // 5
    start = len(text)
    while start > 0 and cell_len(text[start - 1 :]) <= tail_cells:
        start -= 1
    return set_cell_size(text, width - 1 - cell_len(text[start:])) + "…" + text[start:]


def watt_hours(value: float) -> str:
    """Energy at a glance: a 500-token reply at 2.24 J/tok (an H200 measured for issue 14) is 0.31 Wh; a day of
    long turns reaches hundreds."""
    return f"{value:.3f} Wh" if value < 1 else f"{value:.2f} Wh" if value < 100 else f"{value:,.0f} Wh"


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
    }
    """

    status: reactive[Status] = reactive(Status)

    def show(self, **changes: Any) -> None:
        """Change some fields of the status (the others stay)."""
        self.status = replace(self.status, **changes)

    def render(self) -> Text:
        status = self.status
        style = PHASE_STYLES.get(status.phase, "")
        parts: dict[str, Text] = {"model": Text(f" {status.model or '…'}", style="bold")}  # in the order shown
        if status.figures:
            parts["figures"] = Text(status.figures)
        if status.context_limit:  # coloured as it fills; its separator stays plain
            figure_style = context_style(status.context_tokens, status.context_limit)
            parts["context"] = Text.assemble((context_figure(status), figure_style))
        elif status.context_tokens:
            parts["context"] = Text(f"ctx ~{status.context_tokens:,} tok", style="dim")
        if status.conversation_wh is not None:
            parts["conversation_wh"] = Text(f"conv {watt_hours(status.conversation_wh)}")
        if status.session_wh is not None:
            parts["session_wh"] = Text(f"session {watt_hours(status.session_wh)}", style="dim")
        if status.speak:
            parts["speak"] = Text("🔊", style="bold")
        parts["endpoint"] = Text(status.endpoint, style="dim")
        tag = f" {status.phase} "
        message = f" {status.message}" if status.message else ""
        width = self.size.width or 10_000  # not laid out yet: everything

        def wide() -> int:
            separators = len(SEPARATOR) * (len(parts) - ("model" in parts))
            return cell_len(tag) + cell_len(message) + sum(part.cell_len for part in parts.values()) + separators

        for name in DROP_FIRST:
            if wide() <= width:
                break
            parts.pop(name, None)
        if wide() > width:
            message = middle_cut(message, width - cell_len(tag))
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(tag, style=f"reverse {style}")
        line.append(message, style=style)
        for name, part in parts.items():
            if name != "model":
                line.append(SEPARATOR, style=part.style)
            line.append_text(part)
        return line


def short_tokens(count: int) -> str:
    """A token count in a few characters: 226, 3.1k, 41k."""
    if count < 1000:
        return str(count)
    return f"{count / 1000:.1f}k" if count < 100_000 else f"{count // 1000}k"


def window_size(limit: int) -> str:
    """A window as people name it: 4,096 tokens is "4k", 131,072 "128k" (windows are powers of two, or near)."""
    return f"{limit // 1024}k" if limit >= 1024 and limit % 1024 == 0 else short_tokens(limit)


def context_figure(status: Status) -> str:
    """``ctx 3.1k / 4k``; ``~`` when the figure is an estimate."""
    assert status.context_limit is not None
    about = "" if status.context_exact else "~"
    return f"ctx {about}{short_tokens(status.context_tokens)} / {window_size(status.context_limit)}"


def context_style(tokens: int, limit: int) -> str:
    share = tokens / limit
    return next(style for floor, style in CONTEXT_FILL_STYLES if share >= floor)
