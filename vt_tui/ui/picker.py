"""A searchable picker dialog, used for conversations and models alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

Row = tuple[Any, str]  # (value returned when picked, label shown)


class PickerScreen(ModalScreen[Any]):
    """Type to filter, Up/Down to move, Enter to pick, Esc to close. ``search`` may query a database."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, title: str, search: Callable[[str], Sequence[Row]], placeholder: str = "search…") -> None:
        super().__init__()
        self.title_text = title
        self.search = search
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label(self.title_text, id="picker-title")
            yield Input(placeholder=self.placeholder, id="picker-input")
            yield OptionList(id="picker-options")

    def on_mount(self) -> None:
        self.refill("")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill(event.value)

    def refill(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        rows = self.search(query)
        options.add_options([Option(Text(label), id=str(i)) for i, (_, label) in enumerate(rows)])
        self._rows = list(rows)
        if rows:
            options.highlighted = 0

    def on_input_submitted(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None and self._rows:
            self.dismiss(self._rows[options.highlighted][0])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._rows[int(event.option.id or 0)][0])

    def on_key(self, event) -> None:
        if event.key in ("up", "down"):
            options = self.query_one(OptionList)
            options.action_cursor_up() if event.key == "up" else options.action_cursor_down()
            event.stop()
