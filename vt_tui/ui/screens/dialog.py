"""The frame every dialog shares: a box in the middle of the dimmed chat, closed by Esc with no answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from rich.text import Text
from textual.binding import Binding
from textual.screen import ModalScreen

Answer = TypeVar("Answer")


class Dialog(ModalScreen[Answer]):
    """Compose one container with the ``dialog`` class (and a ``dialog-title``); Esc dismisses with None.

    A dialog whose Esc means something else binds ``escape`` itself (the approval prompt denies).
    """

    BINDINGS = [Binding("escape", "close", "Close", id="close-dialog")]

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
    }
    Dialog > .dialog {
        width: 90%;
        max-width: 110;
        height: auto;
        max-height: 95%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    Dialog .dialog-title {
        text-style: bold;
        width: 1fr;
        content-align: center middle;
    }
    """

    def action_close(self) -> None:
        self.dismiss(None)

    def key_hints(self, hints: Sequence[tuple[str, str]]) -> Text:
        """A line of keys for ``(binding id, what it does)`` pairs, as they are bound now (a ``[keymap]`` may have
        changed them)."""
        bound: dict[str, str] = {}
        for active in self.active_bindings.values():
            if active.binding.id:
                bound.setdefault(active.binding.id, self.app.get_key_display(active.binding))
        keys = Text()
        for binding_id, label in hints:
            keys.append(f" {bound.get(binding_id, '?')} ", "reverse bold")
            keys.append(f" {label}   ")
        return keys
