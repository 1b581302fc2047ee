"""A searchable picker dialog, for models and personas (conversations have the search dialog)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from vt_tui.ui.screens.dialog import Dialog

Row = tuple[Any, str]  # (value returned when picked, label shown)


class PickerScreen(Dialog[Any]):
    """Type to filter, Up/Down to move, Enter to pick, Esc to close. ``search`` may query a database."""

    DEFAULT_CSS = """
    PickerScreen > .dialog {
        height: 70%;
    }
    #picker-options {
        height: 1fr;
    }
    """

    def __init__(self, title: str, search: Callable[[str], Sequence[Row]], placeholder: str = "search…") -> None:
        super().__init__()
        self.title_text = title
        self.search = search
        self.placeholder = placeholder
        self._rows: list[Row] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder=self.placeholder, id="picker-input")
            yield OptionList(id="picker-options")

    def on_mount(self) -> None:
        self.refill("")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill(event.value)

    def refill(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        self._rows = list(self.search(query))
        options.add_options([Option(Text(label), id=str(i)) for i, (_, label) in enumerate(self._rows)])
        if self._rows:
            options.highlighted = 0

    def search_again(self) -> None:
        """The rows behind ``search`` changed (a list fetched again): show them for what is typed."""
        self.refill(self.query_one(Input).value)

    def on_input_submitted(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None and self._rows:
            self.dismiss(self._rows[options.highlighted][0])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._rows[int(event.option.id or 0)][0])

    def on_key(self, event: events.Key) -> None:
        if event.key in ("up", "down"):
            options = self.query_one(OptionList)
            options.action_cursor_up() if event.key == "up" else options.action_cursor_down()
            event.stop()
