"""The status bar: endpoint, model, state, last TTFT and tok/s, context estimate."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

STATE_STYLES = {"idle": "green", "streaming": "yellow", "starting": "yellow", "error": "bold red"}


class StatusBar(Static):
    endpoint: reactive[str] = reactive("")
    model: reactive[str] = reactive("")
    state: reactive[str] = reactive("starting")
    figures: reactive[str] = reactive("")
    context_tokens: reactive[int] = reactive(0)
    message: reactive[str] = reactive("")
    speak: reactive[bool] = reactive(False)  # replies are read aloud

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.state} ", style=f"reverse {STATE_STYLES.get(self.state, '')}")
        if self.message:
            text.append(f" {self.message}", style=STATE_STYLES.get(self.state, ""))
        text.append(f" {self.model or '…'}", style="bold")
        if self.figures:
            text.append(f" │ {self.figures}")
        if self.context_tokens:
            text.append(f" │ ctx ~{self.context_tokens:,} tok", style="dim")
        if self.speak:
            text.append(" │ 🔊", style="bold")
        text.append(f" │ {self.endpoint}", style="dim")
        return text
