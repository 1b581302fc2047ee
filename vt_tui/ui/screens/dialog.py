"""The frame every dialog shares: a box in the middle of the dimmed chat, closed by Esc with no answer."""

from __future__ import annotations

from typing import TypeVar

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
