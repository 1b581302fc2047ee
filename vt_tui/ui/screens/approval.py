"""Asks before a risky tool runs: allow once, always (for this host, or this tool: this run), or deny (also Esc)."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.widgets import Button, Static

from vt_tui.core.agent.config import ApprovalRequest, Approver, Decision
from vt_tui.core.sanitize import inert
from vt_tui.ui.screens.dialog import Dialog
from vt_tui.ui.widgets.tool_panel import json_text


class ApprovalScreen(Dialog[Decision]):
    """y: allow once · a: always for this host · n / Esc: deny. The keys shown are the ones bound (``[keymap]``)."""

    BINDINGS = [
        Binding("y", "decide('once')", "Allow once", id="allow-once"),
        Binding("a", "decide('always')", "Always", id="allow-always"),
        Binding("n", "decide('deny')", "Deny", id="deny-call"),
        Binding("escape", "decide('deny')", "Deny", show=False, id="close-dialog"),
    ]

    DEFAULT_CSS = """
    ApprovalScreen > .dialog {
        max-width: 80;
        min-width: 30;
        max-height: 90%;
        border: thick $warning;
    }
    #approval-title, #approval-description {
        height: auto;
        margin: 0 0 1 0;
    }
    #approval-args {
        height: auto;
        max-height: 12;
        background: $boost;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    #approval-args-body {
        height: auto;
    }
    #approval-keys {
        height: auto;
        margin: 1 0 0 0;
    }
    #approval-buttons {
        height: auto;
        align-horizontal: right;
    }
    #approval-buttons Button {
        margin: 0 0 0 1;
        min-width: 8;
    }
    """

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        request = self.request
        title = Text("Allow ", style="bold")
        title.append(inert(request.title or request.name), "bold yellow")
        title.append("?", "bold")
        with Vertical(classes="dialog"):
            yield Static(title, id="approval-title")
            if request.description:
                yield Static(Text(inert(request.description), style="dim"), id="approval-description")
            with VerticalScroll(id="approval-args"):
                yield Static(json_text(request.args), id="approval-args-body")
            yield Static(id="approval-keys")
            with Horizontal(id="approval-buttons"):
                yield Button("Allow once", id="approval-once", variant="primary")
                yield Button("Always", id="approval-always")
                yield Button("Deny", id="approval-deny", variant="error")

    def on_mount(self) -> None:
        self.query_one("#approval-deny", Button).focus()  # Enter on an unread prompt does no harm
        self.query_one("#approval-keys", Static).update(self._keys())

    def _keys(self) -> Text:
        scope = inert(self.request.scope)
        always = f"for {scope}" if scope != self.request.name else "this tool"
        hints = (("allow-once", "allow once"), ("allow-always", f"always {always}"), ("deny-call", "deny"))
        return self.key_hints(hints)

    def action_decide(self, decision: str) -> None:
        self.dismiss(decision)  # type: ignore[arg-type]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "approval-deny").removeprefix("approval-"))  # type: ignore[arg-type]


def approver_for(node: DOMNode) -> Approver:
    """The ``approve(request)`` callback for :class:`~vt_tui.core.agent.AgentConfig`: shows an ApprovalScreen
    over ``node``'s app (looked up when asked, so the callback can be made before the app runs).

    If the turn is cancelled while the prompt is open, the prompt closes (as a denial).
    """

    async def approve(request: ApprovalRequest) -> Decision:
        app = node.app
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Decision] = loop.create_future()

        def done(decision: Decision | None) -> None:
            if not answer.done():
                answer.set_result(decision or "deny")

        screen = ApprovalScreen(request)
        app.push_screen(screen, done)
        try:
            return await answer
        finally:
            if not answer.done() or answer.cancelled():
                answer.cancel()
            if screen.is_attached and app.screen is screen:
                with suppress(Exception):
                    screen.dismiss("deny")

    return approve
