"""Asks before something that cannot be undone: y (or its button) goes ahead; n, Esc or the focused button keeps."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from vt_tui.ui.screens.dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    """``question`` (and what it means, ``detail``) with a button that does it (``action``) and one that keeps
    things as they are, focused: an Enter pressed out of habit does no harm."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n", "answer(False)", "No", id="confirm-no"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen > .dialog {
        max-width: 64;
        border: thick $error;
    }
    #confirm-detail {
        height: auto;
        margin: 1 0;
    }
    #confirm-buttons {
        height: auto;
        align-horizontal: right;
    }
    #confirm-buttons Button {
        margin: 0 0 0 1;
        min-width: 10;
    }
    """

    def __init__(self, question: Text, detail: str, action: str) -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.action = action

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            yield Static(Text(self.detail), id="confirm-detail")
            yield Static(id="confirm-keys")
            with Horizontal(id="confirm-buttons"):
                yield Button(self.action, id="confirm-yes", variant="error")
                yield Button("Keep", id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()
        hints = (("confirm-yes", self.action.lower()), ("confirm-no", "keep"))
        self.query_one("#confirm-keys", Static).update(self.key_hints(hints))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_close(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")
