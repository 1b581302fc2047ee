"""A message over the context window: drop the oldest turns, compact them, or edit the message (also Esc)."""

from __future__ import annotations

from enum import StrEnum

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Static

from vt_tui.core.errors import EndpointError
from vt_tui.core.window import Relief
from vt_tui.ui.screens.dialog import Dialog


class FitChoice(StrEnum):
    """What the user picked to make the message fit."""

    DROP = "drop"  # the oldest turns are no longer sent (they stay on screen)
    COMPACT = "compact"  # the model summarises the earlier turns
    EDIT = "edit"  # the message goes back to the composer, nothing is sent


class ContextScreen(Dialog[FitChoice]):
    """Says by how much the message is over the window and offers what would make it fit; a choice that cannot
    help (dropping every earlier turn is not enough) is shown, disabled, with why. Esc edits: nothing is lost."""

    BINDINGS = [
        Binding("d", "choose('drop')", "Drop oldest", id="drop-turns"),
        Binding("c", "choose('compact')", "Compact", id="compact-turns"),
        Binding("e", "choose('edit')", "Edit", id="edit-message"),
        Binding("escape", "choose('edit')", "Edit", show=False, id="close-dialog"),
    ]

    DEFAULT_CSS = """
    ContextScreen > .dialog {
        max-width: 84;
        border: thick $warning;
    }
    #context-why {
        height: auto;
        margin: 1 0;
    }
    ContextScreen Button {
        width: 100%;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, error: EndpointError, relief: Relief) -> None:
        super().__init__()
        self.error = error
        self.relief = relief

    def compose(self) -> ComposeResult:
        drop, compact = self.relief.drop, self.relief.compact
        with Vertical(classes="dialog"):
            yield Static("The message does not fit the context window", classes="dialog-title")
            yield Static(Text(self.error.message), id="context-why")
            yield Button(
                f"d  Drop the oldest {_turns(len(drop))} (they stay on screen, not sent)"
                if drop
                else "d  Drop the oldest turns: not enough, the message alone is too long",
                id="context-drop",
                variant="primary",
                disabled=not drop,
            )
            yield Button(
                f"c  Compact {_turns(len(compact))} into a summary the model writes (undoable)"
                if compact
                else "c  Compact: not enough, the message alone is too long",
                id="context-compact",
                disabled=not compact,
            )
            yield Button("e  Edit the message (Esc): it goes back to the composer", id="context-edit")

    def on_mount(self) -> None:
        enabled = [b for b in self.query(Button) if not b.disabled]
        enabled[0].focus()

    def action_choose(self, choice: str) -> None:
        picked = FitChoice(choice)
        offered = {FitChoice.DROP: self.relief.drop, FitChoice.COMPACT: self.relief.compact}
        if picked in offered and not offered[picked]:
            self.app.bell()
            return
        self.dismiss(picked)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(FitChoice((event.button.id or "context-edit").removeprefix("context-")))


def _turns(count: int) -> str:
    return f"{count} turn{'s' if count != 1 else ''}"
