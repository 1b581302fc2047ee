"""MCP servers in the app: real FastMCP servers (tests/support/mcp_server.py) started after the first frame, their
tools in a turn (trusted: run; untrusted: the approval prompt), the tool panel's "server · tool", the palette's
list, one notice per server that fails, and no server left once the app has exited."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.functional.test_mcp import stdio, wait_gone
from tests.support.screen import screen_text
from tests.support.scripted_server import ScriptedServer, text_reply, tool_call_reply
from vt_tui.core.mcp.config import parse_servers
from vt_tui.core.mcp.manager import ServerState
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.screens.approval import ApprovalScreen
from vt_tui.ui.screens.mcp import McpScreen
from vt_tui.ui.widgets.composer import Composer
from vt_tui.ui.widgets.tool_panel import ToolPanel

pytestmark = pytest.mark.timeout(120)
SIZE = (160, 48)


def make_app(scripted: ScriptedServer, tmp_path: Path, table: dict[str, Any], **settings: Any) -> VtApp:
    servers = parse_servers(table, "test")
    return VtApp(
        Settings(base_url=scripted.base_url, engine="openai", data_dir=tmp_path, mcp_servers=servers, **settings)
    )


async def until(condition: Any, within_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def mcp_processes() -> list[int]:
    """This test's MCP processes: the guards and the servers they run."""
    return [
        p.pid
        for p in psutil.Process().children(recursive=True)
        if any("mcp_server.py" in part or "guard.py" in part for part in p.cmdline())
    ]


async def test_servers_start_after_the_first_frame_and_their_tools_run_in_a_turn(
    scripted: ScriptedServer, tmp_path: Path, xdg_home: Path
) -> None:
    table = {
        "notes": stdio("notes", trust=True),
        "journal": stdio("journal"),
        "broken": stdio("broken", "--exit-at-start", "2"),
    }
    scripted.queue(
        tool_call_reply([("n1", "notes__search", json.dumps({"query": "gpu", "limit": 1}))]),
        tool_call_reply([("j1", "journal__lookup", json.dumps({"key": "k"}))]),
        text_reply("Found it in both."),
    )
    app = make_app(scripted, tmp_path, table, tools="native")
    async with app.run_test(size=SIZE) as pilot:
        assert app.mcp is None, "nothing of MCP before the first frame"
        await until(lambda: app.mcp is not None)
        await until(lambda: all(s.state is not ServerState.STARTING for s in app.mcp.statuses))
        assert {s.name: s.state for s in app.mcp.statuses} == {
            "notes": ServerState.READY, "journal": ServerState.READY, "broken": ServerState.FAILED,
        }  # fmt: skip
        await asyncio.wait_for(app.ready.wait(), 10)
        registry = app.chat_screen.agent.registry
        await until(lambda: "journal__search" in registry.names and "notes__search" in registry.names)
        servers = mcp_processes()
        assert len(servers) == 4, "a guard and a server for each of the two running servers"

        app.query_one(Composer).load_text("find gpu")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ApprovalScreen))
        approval = screen_text(app)
        assert "Allow journal · lookup?" in approval and "always this tool" in approval
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        calls = app.query_one(ToolPanel).calls
        assert [(c.title, c.name, c.status) for c in calls] == [
            ("notes · search", "notes__search", "ok"), ("journal · lookup", "journal__lookup", "ok"),
        ]  # fmt: skip
        text = screen_text(app)
        assert "✓ notes · search query=gpu, limit=1" in text and "✓ journal · lookup k" in text
        sent = {t["function"]["name"] for t in scripted.chat_requests[0]["tools"]}
        assert {"notes__search", "journal__lookup", "calculator"} <= sent
        results = {
            m["tool_call_id"]: m["content"] for m in scripted.chat_requests[-1]["messages"] if m["role"] == "tool"
        }
        assert results["n1"] == "notes: result 1 for 'gpu'" and '"server": "journal"' in results["j1"]

        notices = [(n.title, str(n.message)) for n in app._notifications if n.title.startswith("MCP server")]
        assert len(notices) == 1 and notices[0][0] == "MCP server broken"
        assert "failed: the connection ended during start-up (broken: cannot open the notes folder)" in notices[0][1]
        assert "mcp-broken.log" in notices[0][1]

        app.chat_screen.action_mcp_servers()
        await pilot.pause()
        assert isinstance(app.screen, McpScreen)
        listing = screen_text(app)
        assert "notes  ready in " in listing and "trusted: its tools run without asking" in listing
        assert "journal  ready in " in listing and "asks before each tool call" in listing
        assert "notes__search" in listing and "Search the notes. Returns matching lines." in listing
        assert "broken  failed: the connection ended during start-up" in listing
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, McpScreen)
    assert await asyncio.to_thread(wait_gone, servers) == [], "the servers stop with the app"


async def test_a_persona_s_tools_list_can_name_mcp_tools_and_nothing_starts_with_tools_off(
    scripted: ScriptedServer, tmp_path: Path, xdg_home: Path
) -> None:
    prompts = xdg_home / "config" / "vt-tui" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "notetaker.md").write_text("---\nname: notetaker\ntools: [notes__search]\n---\nYou take notes.\n")
    scripted.queue(text_reply("No tool needed."))
    app = make_app(scripted, tmp_path, {"notes": stdio("notes", trust=True)}, tools="native", persona="notetaker")
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.mcp is not None and app.mcp.status("notes").state is ServerState.READY)
        await asyncio.wait_for(app.ready.wait(), 10)
        await until(lambda: "notes__lookup" in app.chat_screen.agent.registry.names)
        app.query_one(Composer).load_text("hello")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert [t["function"]["name"] for t in scripted.chat_requests[-1]["tools"]] == ["notes__search"]

    app = make_app(scripted, tmp_path, {"notes": stdio("notes")}, tools="off")
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        assert app.mcp is None and mcp_processes() == []
        app.chat_screen.action_mcp_servers()
        await pilot.pause()
        assert "Not started: tools are off" in screen_text(app)
