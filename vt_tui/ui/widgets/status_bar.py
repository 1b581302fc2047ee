"""The status bar: what the app is doing, the model, the last turn's figures, the context in use, the endpoint."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

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
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {status.phase} ", style=f"reverse {style}")
        if status.message:
            text.append(f" {status.message}", style=style)
        text.append(f" {status.model or '…'}", style="bold")
        if status.figures:
            text.append(f" │ {status.figures}")
        if status.context_limit:
            text.append(" │ ")
            text.append(context_figure(status), style=context_style(status.context_tokens, status.context_limit))
        elif status.context_tokens:
            text.append(f" │ ctx ~{status.context_tokens:,} tok", style="dim")
        if status.speak:
            text.append(" │ 🔊", style="bold")
        text.append(f" │ {status.endpoint}", style="dim")
        return text


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
