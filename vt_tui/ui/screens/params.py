"""A dialog to view and change the conversation's generation parameters."""

from __future__ import annotations

import contextlib
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, Static

from vt_tui.core.params import HELP, PARAMS, GenerationParams, parse, show
from vt_tui.core.sanitize import inert
from vt_tui.ui.screens.dialog import Dialog


class ParamsScreen(Dialog[GenerationParams | None]):
    """One input per parameter, checked as you type. Enter or Ctrl+S applies (when all are valid), Esc cancels.

    Dismisses with the new :class:`GenerationParams`, or None when cancelled. ``ignored``: parameters the
    current engine accepts and ignores (:func:`vt_tui.core.params.ignored_by`), noted under the inputs.
    """

    BINDINGS = [Binding("ctrl+s", "apply", "Apply", priority=True, id="apply-params")]

    DEFAULT_CSS = """
    ParamsScreen > .dialog {
        width: 80;
        max-width: 95%;
    }
    #params-rows {
        height: auto;
        max-height: 70vh;
        scrollbar-size-vertical: 1;
    }
    .param-row {
        height: 1;
        margin-top: 1;
    }
    .param-name {
        width: 14;
    }
    .param-row Input {
        width: 1fr;
        background: $boost;
    }
    .param-row Input:focus {
        background: $primary 25%;
    }
    .param-row Input.-invalid {
        background: $error 30%;
    }
    .param-help {
        color: $text-muted;
        padding-left: 14;
        height: auto;
    }
    .param-error {
        color: $text-error;
        padding-left: 14;
        height: auto;
        display: none;
    }
    .param-error.shown {
        display: block;
    }
    #params-ignored {
        color: $text-warning;
        height: auto;
        margin-top: 1;
    }
    #params-keys {
        color: $text-muted;
        margin-top: 1;
        width: 1fr;
        content-align: center middle;
    }
    """

    def __init__(self, params: GenerationParams, ignored: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.params = params
        self.ignored = [name for name in PARAMS if name in ignored]
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Generation parameters"), classes="dialog-title")
            with VerticalScroll(id="params-rows"):  # on a short terminal the rows scroll, the keys stay
                yield from self._rows()
            yield Static(Text("Enter or Ctrl+S apply · Esc cancel"), id="params-keys")

    def _rows(self) -> ComposeResult:
        for name in PARAMS:
            title = name + (" *" if name in self.ignored else "")
            with Horizontal(classes="param-row"):
                yield Label(Text(title), classes="param-name")
                yield Input(
                    value=inert(show(name, getattr(self.params, name))),
                    placeholder=self._placeholder(name),
                    id=f"param-{name}",
                    select_on_focus=False,
                    compact=True,
                )
            yield Static(Text(HELP[name]), classes="param-help", id=f"param-{name}-help")
            yield Static(Text(""), classes="param-error", id=f"param-{name}-error")
        if self.ignored:
            yield Static(
                Text(f"* this engine ignores {', '.join(self.ignored)}: they change nothing here"),
                id="params-ignored",
            )

    @staticmethod
    def _placeholder(name: str) -> str:
        if name in ("temperature", "top_p"):
            return "engine default"
        if name == "seed":
            return "random"
        if name == "stop":
            return "none"
        return ""

    def on_mount(self) -> None:
        self.query_one("#param-temperature", Input).focus()

    def _input(self, name: str) -> Input:
        return self.query_one(f"#param-{name}", Input)

    def _check(self, name: str) -> Any:
        """The parsed value of one input; shows or clears its message. Raises ``ValueError`` when invalid."""
        field = self._input(name)
        message = self.query_one(f"#param-{name}-error", Static)
        try:
            value = parse(name, field.value)
        except ValueError as exc:
            self.errors[name] = str(exc)
            message.update(Text(inert(str(exc))))
            message.add_class("shown")
            field.add_class("-invalid")
            raise
        self.errors.pop(name, None)
        message.update(Text(""))
        message.remove_class("shown")
        field.remove_class("-invalid")
        return value

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("param-")
        if name in PARAMS:
            with contextlib.suppress(ValueError):  # _check shows the message
                self._check(name)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def result(self) -> GenerationParams | None:
        """The parameters as typed, or None when any is invalid (each bad input then shows why)."""
        values: dict[str, Any] = {}
        for name in PARAMS:
            try:
                values[name] = self._check(name)
            except ValueError:
                continue
        if self.errors:
            return None
        return GenerationParams(**values)

    def action_apply(self) -> None:
        params = self.result()
        if params is None:
            first = next(name for name in PARAMS if name in self.errors)
            self._input(first).focus()
            self.app.bell()
            return
        self.dismiss(params)
