"""The tool panel and the approval prompt, driven with Pilot inside a small app laid out like vt-tui's side column."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, OptionList, Static

from tests.support.screen import screen_rows, screen_text
from tests.support.scripted_server import ScriptedServer, text_reply, tool_call_reply
from vt_tui.core.agent import AgentConfig, ApprovalRequest, ToolRegistry
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import ToolCallFinished, ToolCallStarted, TurnFinished
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store
from vt_tui.ui.screens.approval import ApprovalScreen, approver_for
from vt_tui.ui.widgets.tool_panel import ToolPanel, row_text

SMALL = (80, 24)
WIDE = (160, 40)


class PanelApp(App[None]):
    CSS = "#side { width: 38; border-left: vkey $primary 30%; } #chat { width: 1fr; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("chat", id="chat")
            with Vertical(id="side"):
                yield ToolPanel(id="tools")
        yield Footer()

    @property
    def panel(self) -> ToolPanel:
        return self.query_one(ToolPanel)


def panel_lines(app: PanelApp) -> list[str]:
    """The rows the panel occupies on screen (the side column's cells)."""
    region = app.panel.region
    rows = screen_rows(app)
    return [rows[y].text[region.x : region.right] for y in range(region.y, region.bottom)]


def started(call_id: str, name: str = "calculator", **args: Any) -> ToolCallStarted:
    return ToolCallStarted(call_id, name, args or {"expression": "17 * 23"}, step=1)


def finished(call_id: str, status: str = "ok", result: str | None = "391", error: str | None = None, name="calculator"):
    return ToolCallFinished(call_id, name, result, error, 0.0123, status)


async def test_calls_appear_live_and_fit_the_side_column() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        panel = app.panel
        await pilot.pause()
        assert "No tool calls yet." in screen_text(app)
        panel.add_call(started("c1"))
        await pilot.pause()
        text = screen_text(app)
        assert "● calculator 17 * 23" in text and "Tools · 1  ● 1" in text
        panel.finish_call(finished("c1"))
        panel.add_call(started("c2", "web_fetch", url="https://example.com/" + "long/" * 20))
        panel.finish_call(finished("c2", "denied", None, "denied by the user", "web_fetch"))
        panel.add_call(started("c3", "web_search", query="x"))
        panel.finish_call(finished("c3", "error", None, "offline", "web_search"))
        await pilot.pause()
        lines = panel_lines(app)
        assert lines[1].strip().startswith("✓ calculator 17 * 23") and lines[1].rstrip().endswith("0.01s")
        assert lines[2].strip().startswith("⊘ web_fetch https://example.com/") and "…" in lines[2]
        assert lines[3].strip().startswith("✗ web_search x")
        assert "Tools · 3  ✗ 1  ⊘ 1" in lines[0]
        assert panel.region.width == 38 - 1  # the side column less its border
        options = panel.query_one(OptionList)
        assert all(options._heights[i] == 1 for i in range(options.option_count)), "rows must not wrap"
        assert [c.status for c in panel.calls] == ["ok", "denied", "error"]


async def test_wide_layout_shows_more_of_the_arguments() -> None:
    app = PanelApp()
    app.CSS = "#side { width: 64; } #chat { width: 1fr; }"
    long_url = "https://example.com/" + "segment/" * 12
    async with app.run_test(size=WIDE) as pilot:
        app.panel.add_call(started("c1", "web_fetch", url=long_url))
        await pilot.pause()
        row = panel_lines(app)[1]
        assert "https://example.com/segment/segment/segment" in row and len(row.rstrip()) > 50


async def test_running_calls_show_a_live_clock() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        app.panel.add_call(started("c1", "slow", seconds=30))
        await pilot.pause(1.2)
        assert panel_lines(app)[1].rstrip().endswith("s") and "1." in panel_lines(app)[1]


async def test_enter_shows_details_and_arrows_move_them() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        panel = app.panel
        panel.add_call(started("c1", expression="2 ** 10"))
        panel.finish_call(finished("c1", result='{"value": 1024, "exact": true}'))
        panel.add_call(ToolCallStarted("c2", "web_search", {"query": "textual", "limit": 3}, step=2))
        panel.finish_call(finished("c2", "error", None, "web search failed: offline", "web_search"))
        await pilot.pause()
        detail = panel.query_one("#tool-detail")
        assert not detail.display
        panel.query_one(OptionList).focus()
        await pilot.press("home", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert detail.display and "Arguments" in text and '"expression": "2 ** 10"' in text
        assert '"value": 1024,' in text and '"exact": true' in text  # JSON results pretty-printed
        await pilot.press("down")
        await pilot.pause()
        text = screen_text(app)
        assert "web_search  ✗ error" in text and "web search failed: offline" in text and "step 2" in text
        assert '"limit": 3' in text
        await pilot.press("enter")
        await pilot.pause()
        assert not detail.display


async def test_click_selects_a_call() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        app.panel.add_call(started("c1"))
        app.panel.add_call(started("c2", "web_search", query="clicked"))
        await pilot.pause()
        options = app.panel.query_one(OptionList)
        await pilot.click(options, offset=(3, 1))
        await pilot.pause()
        assert app.panel.query_one("#tool-detail").display
        assert '"query": "clicked"' in screen_text(app)


async def test_copy_key_puts_the_call_on_the_clipboard() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        app.panel.add_call(started("c1"))
        app.panel.finish_call(finished("c1"))
        app.panel.query_one(OptionList).focus()
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard.startswith("calculator (ok)")
        assert json.dumps({"expression": "17 * 23"}, indent=2) in app.clipboard and app.clipboard.endswith("391")


async def test_model_and_tool_text_is_shown_inert() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        panel = app.panel
        panel.add_call(ToolCallStarted("c1", "web_fetch", {"url": "[bold red]x[/] \x1b[31mred\x1b]0;title\x07"}))
        panel.finish_call(ToolCallFinished("c1", "web_fetch", "[link=file:///etc]click[/link]\x1b[2J", None, 1.0))
        panel.query_one(OptionList).focus()
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]x[/]" in text and "[link=file:///etc]click[/link]" in text
        assert "\x1b" not in text and "\x07" not in text
        assert "\\u001b]0;title" in text  # the arguments as JSON: control characters escaped, shown as text


async def test_load_restores_stored_calls_and_clear_empties(tmp_path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    conversation = store.create_conversation(model="m")
    turn = store.add_turn(conversation, "q", "m", {})
    store.add_tool_call(turn, "c1", "calculator", {"expression": "1+1"})
    store.finish_tool_call(turn, "c1", "ok", "2", None, 0.01)
    store.add_tool_call(turn, "c2", "slow", {"seconds": 9})  # left running by a crash
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        app.panel.load(store.tool_calls(conversation))
        await pilot.pause()
        assert [(c.call_id, c.status) for c in app.panel.calls] == [("c1", "ok"), ("c2", "cancelled")]
        assert app.panel.calls[1].error == "interrupted"
        lines = panel_lines(app)
        assert lines[1].strip().startswith("✓ calculator 1+1") and lines[2].strip().startswith("◌ slow 9")
        app.panel.clear()
        await pilot.pause()
        assert app.panel.calls == [] and "No tool calls yet." in screen_text(app)


async def test_row_text_never_exceeds_its_width() -> None:
    from vt_tui.ui.widgets.tool_panel import ToolCallRecord

    record = ToolCallRecord("k", "id", "a_really_long_tool_name_from_a_plugin", {"q": "x" * 200}, "ok", duration_s=75)
    for width in range(8, 80):
        assert row_text(record, width).cell_len <= width, width


# --- approval ---------------------------------------------------------------------------------------

REQUEST = ApprovalRequest("c9", "web_fetch", {"url": "https://example.com/x"}, "example.com", "Read a web page.")


async def ask(app: App[Any], pilot, *keys: str) -> str:
    task = asyncio.create_task(approver_for(app)(REQUEST))
    await pilot.pause()
    assert isinstance(app.screen, ApprovalScreen)
    text = screen_text(app)
    assert "Allow web_fetch?" in text and "always for example.com" in text and '"url": "https://example.com/x"' in text
    await pilot.press(*keys)
    decision = await asyncio.wait_for(task, 5)
    await pilot.pause()
    assert not isinstance(app.screen, ApprovalScreen)
    return decision


async def test_approval_keys() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        assert await ask(app, pilot, "y") == "once"
        assert await ask(app, pilot, "a") == "always"
        assert await ask(app, pilot, "n") == "deny"
        assert await ask(app, pilot, "escape") == "deny"
        assert await ask(app, pilot, "enter") == "deny"  # the focused button is Deny


async def test_approval_buttons_and_cancel() -> None:
    app = PanelApp()
    async with app.run_test(size=SMALL) as pilot:
        task = asyncio.create_task(approver_for(app)(REQUEST))
        await pilot.pause()
        await pilot.click("#approval-always")
        assert await asyncio.wait_for(task, 5) == "always"
        task = asyncio.create_task(approver_for(app)(REQUEST))
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        task.cancel()  # the turn was cancelled while the prompt was open
        await pilot.pause()
        await pilot.pause()
        assert task.cancelled() and not isinstance(app.screen, ApprovalScreen)


# --- wired to a real session ------------------------------------------------------------------------


class AgentApp(PanelApp):
    def __init__(self, server: ScriptedServer, registry: ToolRegistry) -> None:
        super().__init__()
        agent = AgentConfig(registry=registry, approver=approver_for(self))
        self.session = ChatSession(Endpoint(server.base_url, engine="openai"), agent=agent)
        self.outcome: list = []

    async def ask_model(self, text: str) -> None:
        async for event in self.session.run_turn(text):
            if isinstance(event, ToolCallStarted):
                self.panel.add_call(event)
            elif isinstance(event, ToolCallFinished):
                self.panel.finish_call(event)
            self.outcome.append(event)


async def test_session_events_drive_the_panel_and_the_prompt(scripted: ScriptedServer) -> None:
    from langchain_core.tools import StructuredTool

    async def fetch(url: str) -> str:
        """Fetch a page."""
        return f"<html>{url}</html>"

    registry = ToolRegistry(
        builtins=False, plugins=None, tools=[StructuredTool.from_function(coroutine=fetch, metadata={"risky": True})]
    )
    scripted.queue(tool_call_reply([("f1", "fetch", '{"url": "https://example.com/"}')]), text_reply("Fetched."))
    app = AgentApp(scripted, registry)
    async with app.run_test(size=SMALL) as pilot:
        task = asyncio.create_task(app.ask_model("read example.com"))
        for _ in range(200):
            await pilot.pause(0.02)
            if isinstance(app.screen, ApprovalScreen):
                break
        assert isinstance(app.screen, ApprovalScreen)
        assert app.panel.calls[0].status == "running"  # visible behind the prompt
        await pilot.press("y")
        await asyncio.wait_for(task, 10)
        await pilot.pause()
        assert isinstance(app.outcome[-1], TurnFinished)
        assert [(c.name, c.status, c.result) for c in app.panel.calls] == [
            ("fetch", "ok", "<html>https://example.com/</html>")
        ]
