"""The MCP servers dialog (palette: "MCP servers"): each server, started or why not, with its tools.

The same facts as ``vt-tui mcp``, live: it re-reads the statuses twice a second while open, so a server that is
still starting turns ready (or failed) in front of the user. Esc closes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from vt_tui.core.mcp.manager import ServerState, ServerStatus
from vt_tui.core.sanitize import inert
from vt_tui.ui.screens.dialog import Dialog

REFRESH_S = 0.5
STATE_STYLES = {
    ServerState.READY: "green",
    ServerState.STARTING: "yellow",
    ServerState.FAILED: "bold red",
    ServerState.CRASHED: "bold red",
    ServerState.DISABLED: "dim",
    ServerState.STOPPED: "dim",
}


def servers_text(statuses: Sequence[ServerStatus], note: str = "") -> Text:
    """Each server: its name and state, transport and target, trust, log (when it failed), then its tools as the
    model (and a persona's ``tools:`` list) names them, each with its description's first line."""
    out = Text()
    if note:
        out.append(note + "\n", "dim")
    for n, status in enumerate(statuses):
        if n or note:
            out.append("\n")
        out.append(inert(status.name), "bold")
        out.append("  ")
        out.append(inert(status.summary), STATE_STYLES.get(status.state, ""))
        out.append(f"\n  {status.transport.value}: {inert(status.target)}", "dim")
        if status.state is not ServerState.DISABLED:
            out.append(f"\n  {status.trust_words}", "" if status.trusted else "yellow")
        if status.log_path is not None and status.state in (ServerState.FAILED, ServerState.CRASHED):
            out.append(f"\n  its stderr: {status.log_path}", "dim")
        width = max((len(tool.name) for tool in status.tools), default=0)
        for tool in status.tools:
            out.append(f"\n  {inert(tool.name):<{width}}", "bold cyan")
            out.append(f"  {inert(tool.first_line)}")
        out.append("\n")
    return out


class McpScreen(Dialog[None]):
    """Read-only; Esc (the dialog's) closes it. ``statuses()`` is asked again while it is open."""

    DEFAULT_CSS = """
    McpScreen > .dialog {
        height: 80%;
    }
    #mcp-servers {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    #mcp-servers-body {
        height: auto;
    }
    #mcp-hint {
        height: 1;
        color: $text-muted;
    }
    """

    def __init__(self, statuses: Callable[[], Sequence[ServerStatus]], note: str = "") -> None:
        super().__init__()
        self.statuses = statuses
        self.note = note
        self._shown: Text | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("MCP servers", classes="dialog-title")
            with VerticalScroll(id="mcp-servers"):
                yield Static(id="mcp-servers-body")
            yield Label("Esc closes · names as a persona's tools: list writes them", id="mcp-hint")

    def on_mount(self) -> None:
        self.refill()
        self.query_one("#mcp-servers").focus()  # arrows and PgUp/PgDn scroll a long list
        self.set_interval(REFRESH_S, self.refill)

    def refill(self) -> None:
        text = servers_text(self.statuses(), self.note)
        if self._shown is None or text.plain != self._shown.plain:
            self._shown = text
            self.query_one("#mcp-servers-body", Static).update(text)
