"""The composer: Enter sends, Ctrl+J adds a newline, Up/Down recall earlier prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from vt_tui.core.sanitize import inert

if TYPE_CHECKING:
    from vt_tui.core.attachments import Attachment


class Composer(TextArea):
    """A multi-line prompt box. Terminals send Shift+Enter as Enter, so the newline key is Ctrl+J."""

    # Shown in the footer; handled in _on_key, in order with the typed characters. (A priority binding would
    # run from the app's queue and could send before the last characters, still queued here, were inserted.)
    BINDINGS = [
        Binding("enter", "submit", "Send", show=True),
        Binding("ctrl+j", "newline", "Newline", show=True),
    ]

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 12;
        border: round $primary 50%;
    }
    Composer:focus {
        border: round $primary;
    }
    Composer.editing, Composer.editing:focus {
        border: round $warning;
        border-title-color: $warning;
    }
    """

    @dataclass
    class Submitted(Message):
        composer: Composer
        text: str

    def __init__(self, prompts: list[str] | None = None, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.prompts: list[str] = prompts or []
        self.quick_prompts: list[str] = []  # a persona's examples: keys 1-9 send them while the box is empty
        self._recall: int | None = None  # index into history while recalling
        self._draft = ""
        self.attachments: list[Attachment] = []  # images waiting to go with the next prompt

    def attach(self, attachment: Attachment) -> None:
        self.attachments.append(attachment)
        self._show_attachments()

    def take_attachments(self) -> list[Attachment]:
        """The pending images, handed over to a turn (the box forgets them)."""
        taken, self.attachments = self.attachments, []
        self._show_attachments()
        return taken

    def mark_editing(self, editing: bool) -> None:
        """Say that the box holds an earlier prompt being edited (Enter sends it as a new version of that turn)."""
        self.set_class(editing, "editing")
        self.border_title = "editing — Enter resends, Esc cancels" if editing else None

    def _show_attachments(self) -> None:
        self.border_subtitle = Text("  ".join(f"📎 {inert(a.describe())}" for a in self.attachments))

    def action_submit(self) -> None:
        text = self.text.strip()
        if not text:
            return
        if not self.prompts or self.prompts[-1] != text:
            self.prompts.append(text)
        self._recall = None
        self.post_message(self.Submitted(self, text))
        self.clear()

    def action_newline(self) -> None:
        self.insert("\n")

    async def _on_key(self, event: events.Key) -> None:
        if event.key in ("enter", "ctrl+j"):
            event.prevent_default()
            event.stop()
            self.action_submit() if event.key == "enter" else self.action_newline()
            return
        if event.character and event.character in "123456789" and not self.text and self.quick_prompts:
            index = int(event.character) - 1
            if index < len(self.quick_prompts):
                event.prevent_default()
                event.stop()
                self.post_message(self.Submitted(self, self.quick_prompts[index]))
                self.quick_prompts = []
                return
        if event.key == "up" and self.cursor_location[0] == 0 and self._step(-1):
            event.prevent_default()
            event.stop()
            return
        if event.key == "down" and self.cursor_location[0] == self.document.line_count - 1 and self._step(1):
            event.prevent_default()
            event.stop()
            return
        await super()._on_key(event)

    def _step(self, direction: int) -> bool:
        """Move through history; returns False when there is nowhere to go (the key then moves the cursor)."""
        if not self.prompts:
            return False
        if self._recall is None:
            if direction > 0:
                return False
            self._draft, self._recall = self.text, len(self.prompts) - 1
        else:
            target = self._recall + direction
            if target < 0:
                return False
            if target >= len(self.prompts):
                self._recall = None
                self.load_text(self._draft)
                self.move_cursor(self.document.end)
                return True
            self._recall = target
        self.load_text(self.prompts[self._recall])
        self.move_cursor(self.document.end)
        return True
