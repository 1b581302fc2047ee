"""The MCP servers dialog (palette: "MCP servers"): each server, started or why not, with its tools.

The same facts as ``vt-tui mcp``, live: it re-reads the statuses twice a second while open, so a server that is
still starting turns ready (or failed) in front of the user. Esc closes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
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


def servers_view(statuses: Sequence[ServerStatus], note: str = "") -> Group:
    """Each server: its name and state, transport and target, trust, log (when it failed), then its tools as the
    model (and a persona's ``tools:`` list) names them, each with its description's first line (wrapped lines
    stay in their column)."""
    parts: list[RenderableType] = [Text(note, style="dim")] if note else []
    for status in statuses:
        if parts:
            parts.append(Text(""))
        head = Text(inert(status.name), style="bold")
        head.append("  ")
        head.append(inert(status.summary), STATE_STYLES.get(status.state, ""))
        parts.append(head)
        facts = Table.grid(padding=(0, 0, 0, 2), pad_edge=True)
        facts.add_row(Text(f"{status.transport.value}: {inert(status.target)}", style="dim"))
        if status.state is not ServerState.DISABLED:
            facts.add_row(Text(status.trust_words, style="" if status.trusted else "yellow"))
        if status.log_path is not None and status.state in (ServerState.FAILED, ServerState.CRASHED):
            facts.add_row(Text(f"its stderr: {status.log_path}", style="dim"))
        parts.append(facts)
        if status.tools:
            tools = Table.grid(padding=(0, 0, 0, 2), pad_edge=True)
            tools.add_column(style="bold cyan", no_wrap=True)
            tools.add_column(ratio=1)
            for tool in status.tools:
                tools.add_row(Text(inert(tool.name)), Text(inert(tool.first_line)))
            parts.append(tools)
    return Group(*parts)


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
        self._shown: tuple[ServerStatus, ...] | None = None

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
        statuses = tuple(self.statuses())
        if statuses != self._shown:
            self._shown = statuses
            self.query_one("#mcp-servers-body", Static).update(servers_view(statuses, self.note))
