"""The status bar: what the app is doing, the model, the last turn's figures, the context estimate, the endpoint."""

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


@dataclass(frozen=True)
class Status:
    """Everything the status bar shows; replaced whole (``StatusBar.show``), so one change is one redraw."""

    phase: Phase = Phase.STARTING
    message: str = ""  # one line next to the phase: an error, "cancelled", the embedded server's progress
    model: str = ""
    figures: str = ""  # the last turn's TTFT, tokens, tok/s
    context_tokens: int = 0  # estimate of what the next request carries
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
        if status.context_tokens:
            text.append(f" │ ctx ~{status.context_tokens:,} tok", style="dim")
        if status.speak:
            text.append(" │ 🔊", style="bold")
        text.append(f" │ {status.endpoint}", style="dim")
        return text
