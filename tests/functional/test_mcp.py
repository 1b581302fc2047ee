"""MCP servers for real: FastMCP servers (tests/support/mcp_server.py) over stdio, streamable HTTP and SSE on
127.0.0.1, started by the manager (stdio) or by the test (HTTP), called through LangChain tools and the agent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from langchain_core.messages import ToolMessage

from tests.functional.test_doctor import line, run_doctor
from tests.support.mcp_server import command, http_server
from tests.support.ports import closed_port
from tests.support.scripted_server import ScriptedServer, text_reply, tool_call_reply
from vt_tui.core.agent import AgentConfig, ApprovalRequest, ToolRegistry
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import ToolCallFinished
from vt_tui.core.mcp.config import Transport, parse_servers
from vt_tui.core.mcp.manager import McpManager, ServerState, ServerStatus
from vt_tui.core.session import ChatSession

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


def stdio(name: str, *options: str, **settings: Any) -> dict[str, Any]:
    argv = command(name, *options)
    return {"command": argv[0], "args": argv[1:], **settings}


def manager(tmp_path: Path, table: dict[str, Any]) -> McpManager:
    return McpManager(parse_servers(table, "test"), log_dir=tmp_path / "logs")


class Heard:
    """Every status change, as a listener hears it."""

    def __init__(self, mcp: McpManager) -> None:
        self.changes: list[ServerStatus] = []
        mcp.subscribe(self.changes.append)

    def states(self, name: str) -> list[ServerState]:
        return [s.state for s in self.changes if s.name == name]


async def call(mcp: McpManager, model_name: str, args: dict[str, Any]) -> ToolMessage:
    server = next(s.name for s in mcp.statuses if any(t.name == model_name for t in s.tools))
    tool = next(t for t in mcp.langchain_tools(server) if t.name == model_name)
    return await tool.ainvoke({"type": "tool_call", "id": "c1", "name": model_name, "args": args})


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], within_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if not gone(p)]


def pids_in(path: Path) -> list[int]:
    deadline = time.monotonic() + 30
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return [int(p) for p in path.read_text().split()]


# --- starting, listing, calling ----------------------------------------------------------------------


async def test_stdio_http_and_sse_servers_start_in_the_background_and_answer(tmp_path: Path) -> None:
    with http_server("web") as web_url, http_server("legacy", "sse") as sse_url:
        mcp = manager(
            tmp_path,
            {
                "notes": stdio("notes", trust=True),
                "web": {"url": web_url},
                "legacy": {"url": sse_url, "transport": "sse"},
                "spare": stdio("spare", enabled=False),
            },
        )
        mcp.start()  # returns at once: nothing is connected yet
        assert [s.state for s in mcp.statuses] == [ServerState.STARTING] * 3 + [ServerState.DISABLED]
        try:
            statuses = {s.name: s for s in await mcp.wait_started()}
            for name, transport in (("notes", "stdio"), ("web", "streamable-http"), ("legacy", "sse")):
                status = statuses[name]
                assert status.state is ServerState.READY, status.summary
                assert status.transport is Transport(transport) and len(status.tools) == 8
                assert f"{name}__search" in [t.name for t in status.tools]
                reply = await call(mcp, f"{name}__search", {"query": "gpu", "limit": 1})
                assert reply.status == "success" and reply.content == f"{name}: result 1 for 'gpu'"
            assert statuses["spare"].state is ServerState.DISABLED
        finally:
            await mcp.aclose()
        assert {s.name: s.state for s in mcp.statuses} == {
            "notes": ServerState.STOPPED, "web": ServerState.STOPPED, "legacy": ServerState.STOPPED,
            "spare": ServerState.DISABLED,
        }  # fmt: skip


async def test_two_servers_with_the_same_tool_get_two_names_and_trust_decides_risky(tmp_path: Path) -> None:
    mcp = manager(tmp_path, {"notes": stdio("notes", trust=True, timeout_s=7), "journal": stdio("journal")})
    try:
        await mcp.wait_started()
        notes = {t.name: t for t in mcp.langchain_tools("notes")}
        journal = {t.name: t for t in mcp.langchain_tools("journal")}
        assert "notes__search" in notes and "journal__search" in journal
        assert (await call(mcp, "journal__search", {"query": "q", "limit": 1})).content == "journal: result 1 for 'q'"
        assert (await call(mcp, "notes__search", {"query": "q", "limit": 1})).content == "notes: result 1 for 'q'"
        assert notes["notes__search"].metadata == {
            "mcp_server": "notes", "mcp_tool": "search", "trusted": True, "risky": False, "timeout_s": 7.0,
        }  # fmt: skip
        assert journal["journal__search"].metadata["risky"] is True
        assert journal["journal__search"].description == "Search the notes. Returns matching lines."
    finally:
        await mcp.aclose()


async def test_results_errors_and_bad_arguments(tmp_path: Path) -> None:
    mcp = manager(tmp_path, {"notes": stdio("notes")})
    try:
        await mcp.wait_started()
        failed = await call(mcp, "notes__fail", {"reason": "read-only"})
        assert failed.status == "error" and "cannot do that: read-only" in failed.content
        refused = await call(mcp, "notes__search", {"limit": "three"})  # past the agent's check: the server's
        assert refused.status == "error" and "validation error" in refused.content.lower()
        structured = await call(mcp, "notes__lookup", {"key": "k"})
        assert json.loads(structured.content) == {"key": "k", "server": "notes", "found": True}
        long = await call(mcp, "notes__long_text", {"chars": 50_000})
        assert "[Showing the first 8,000 of 50,000 characters.]" in long.content
        picture = await call(mcp, "notes__picture", {})
        assert picture.content == "a red dot\n\n[image 1: image/png data, 70 B]"
        assert picture.artifact["images"][0]["mime_type"] == "image/png"
    finally:
        await mcp.aclose()


# --- failures ------------------------------------------------------------------------------------------


async def test_a_crash_mid_call_is_a_tool_error_reported_once_and_the_rest_go_on(tmp_path: Path) -> None:
    mcp = manager(tmp_path, {"crashy": stdio("crashy"), "steady": stdio("steady")})
    heard = Heard(mcp)
    registry = ToolRegistry(builtins=False, plugins=None)
    mcp.feed(registry)
    try:
        await mcp.wait_started()
        assert "crashy__search" in registry.names and "steady__search" in registry.names
        reply = await call(mcp, "crashy__crash", {})
        assert reply.status == "error" and "'crashy' closed the connection during the call" in reply.content
        for _ in range(100):
            if mcp.status("crashy").state is ServerState.CRASHED:
                break
            await asyncio.sleep(0.05)
        status = mcp.status("crashy")
        assert status.state is ServerState.CRASHED and "crashy: crashing on purpose" in (status.error or "")
        assert heard.states("crashy").count(ServerState.CRASHED) == 1
        assert "crashing on purpose" in (tmp_path / "logs" / "mcp-crashy.log").read_text()
        assert not any(name.startswith("crashy__") for name in registry.names), "its tools are withdrawn"
        again = await mcp.call_tool("steady", "search", {"query": "still", "limit": 1})
        assert again.content[0].text == "steady: result 1 for 'still'"
        late = await call(mcp, "steady__search", {"query": "x"})
        assert late.status == "success"
    finally:
        await mcp.aclose()
    assert heard.states("crashy").count(ServerState.CRASHED) == 1 and mcp.status("crashy").state is ServerState.CRASHED


async def test_servers_that_do_not_start_are_reported_once_by_name_and_the_rest_go_on(tmp_path: Path) -> None:
    hung_pids = tmp_path / "hung.pids"
    mcp = manager(
        tmp_path,
        {
            "good": stdio("good"),
            "exits": stdio("exits", "--exit-at-start", "2"),
            "hangs": stdio("hangs", "--hang-at-start", "--pid-file", str(hung_pids), startup_timeout_s=2),
            "missing": {"command": "no-such-mcp-server-xyz"},
            "secret": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${UNSET_MCP_TOKEN}"}},
            "refused": {"url": f"http://127.0.0.1:{closed_port()}/mcp"},
        },
    )
    heard = Heard(mcp)
    try:
        statuses = {s.name: s for s in await mcp.wait_started()}
        assert statuses["good"].state is ServerState.READY
        expected = {
            "exits": "the connection ended during start-up (exits: cannot open the notes folder)",
            "hangs": "no answer within 2 s (startup_timeout_s)",
            "missing": "command 'no-such-mcp-server-xyz' not found",
            "secret": "${UNSET_MCP_TOKEN} in headers.Authorization is not set in the environment",
            "refused": "cannot reach http://127.0.0.1:",
        }
        for name, said in expected.items():
            assert statuses[name].state is ServerState.FAILED and said in (statuses[name].error or ""), name
            assert heard.states(name) == [ServerState.FAILED], name
        assert statuses["exits"].log_path == tmp_path / "logs" / "mcp-exits.log"
        left = await asyncio.to_thread(wait_gone, pids_in(hung_pids))  # the loop runs the stopping meanwhile
        assert left == [], "a server that never answered is stopped"
        assert (await call(mcp, "good__search", {"query": "q", "limit": 1})).status == "success"
    finally:
        await mcp.aclose()


async def test_a_hanging_call_times_out_through_the_agent_and_the_server_goes_on(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    mcp = manager(tmp_path, {"slowpoke": stdio("slowpoke", trust=True, timeout_s=1)})
    registry = ToolRegistry(builtins=False, plugins=None)
    mcp.feed(registry)
    try:
        await mcp.wait_started()
        scripted.queue(
            tool_call_reply([("h1", "slowpoke__hang", "{}")]),
            tool_call_reply([("s1", "slowpoke__search", json.dumps({"query": "after", "limit": 1}))]),
            text_reply("done"),
        )
        session = ChatSession(
            Endpoint(scripted.base_url, engine="openai"), agent=AgentConfig(mode="native", registry=registry)
        )
        events = [event async for event in session.run_turn("go")]
        finished = {e.call_id: e for e in events if isinstance(e, ToolCallFinished)}
        assert finished["h1"].status == "error" and finished["h1"].error == "slowpoke__hang timed out after 1 s"
        assert finished["s1"].status == "ok" and finished["s1"].result == "slowpoke: result 1 for 'after'"
        sent = scripted.chat_requests[0]["tools"]
        search = next(t["function"] for t in sent if t["function"]["name"] == "slowpoke__search")
        assert search["parameters"]["required"] == ["query"]
        assert mcp.status("slowpoke").state is ServerState.READY
    finally:
        await mcp.aclose()


async def test_through_the_agent_arguments_are_checked_before_asking_and_images_reach_vision_models(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    mcp = manager(tmp_path, {"journal": stdio("journal")})
    registry = ToolRegistry(builtins=False, plugins=None)
    mcp.feed(registry)
    asked: list[ApprovalRequest] = []

    async def approver(request: ApprovalRequest) -> str:
        asked.append(request)
        return "once"

    try:
        await mcp.wait_started()
        for engine, shown in (("openai", True), ("llama-cpp", False)):
            scripted.queue(
                tool_call_reply([("b1", "journal__search", json.dumps({"query": 42}))]),
                tool_call_reply([("p1", "journal__picture", "{}")]),
                text_reply("a red dot"),
            )
            agent = AgentConfig(mode="native", registry=registry, approver=approver)
            session = ChatSession(Endpoint(scripted.base_url, engine=engine), agent=agent)
            events = [event async for event in session.run_turn("look")]
            finished = {e.call_id: e for e in events if isinstance(e, ToolCallFinished)}
            assert finished["b1"].error == "invalid arguments for journal__search: query: 42 is not of type 'string'"
            assert [a.name for a in asked] == ["journal__picture"], "a call that cannot run is not put to the user"
            assert (
                finished["p1"].status == "ok"
                and finished["p1"].result == "a red dot\n\n[image 1: image/png data, 70 B]"
            )
            last = scripted.chat_requests[-1]["messages"]
            tool_result = next(m for m in last if m.get("tool_call_id") == "p1")
            if shown:
                assert last[-1]["role"] == "user" and last[-1]["content"][1]["type"] == "image_url"
                assert last[-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
            else:
                assert last[-1] is tool_result and "1 image(s) not shown" in tool_result["content"]
            asked.clear()
    finally:
        await mcp.aclose()


async def test_an_untrusted_tool_with_a_url_is_approved_by_its_name_never_by_the_host(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    """A host in fetch_allow_hosts lets web_fetch reach it without asking; it must not let an untrusted server's
    tool that happens to take a ``url`` run unasked, nor "always" for it cover only that host."""
    mcp = manager(tmp_path, {"journal": stdio("journal")})
    registry = ToolRegistry(builtins=False, plugins=None)
    mcp.feed(registry)

    def fetch(call_id: str, url: str) -> tuple[str, str, str]:
        return (call_id, "journal__fetch", json.dumps({"url": url}))

    try:
        await mcp.wait_started()
        scripted.queue(tool_call_reply([fetch("u1", "http://127.0.0.1:8080/admin")]), text_reply("ok"))
        headless = AgentConfig(mode="native", registry=registry, allow=frozenset({"127.0.0.1:8080"}))
        events = [
            e async for e in ChatSession(Endpoint(scripted.base_url, engine="openai"), agent=headless).run_turn("go")
        ]
        finished = next(e for e in events if isinstance(e, ToolCallFinished))
        assert finished.status == "denied", "the allowed host does not let an untrusted MCP tool run unasked"
        assert (
            finished.error == "not run: journal__fetch needs approval and nobody can be asked here "
            "(journal__fetch is not allowed)"
        )

        asked: list[ApprovalRequest] = []

        async def always(request: ApprovalRequest) -> str:
            asked.append(request)
            return "always"

        scripted.queue(
            tool_call_reply([fetch("u2", "http://127.0.0.1:8080/a"), fetch("u3", "https://example.org/b")]),
            text_reply("done"),
        )
        agent = AgentConfig(mode="native", registry=registry, approver=always)
        events = [
            e async for e in ChatSession(Endpoint(scripted.base_url, engine="openai"), agent=agent).run_turn("go")
        ]
        assert [(a.name, a.scope) for a in asked] == [("journal__fetch", "journal__fetch")], "one answer, by name"
        assert [e.status for e in events if isinstance(e, ToolCallFinished)] == ["ok", "ok"]
    finally:
        await mcp.aclose()


# --- no orphans -------------------------------------------------------------------------------------------

PARENT = """
import asyncio, json, sys
from vt_tui.core.mcp.config import parse_servers
from vt_tui.core.mcp.manager import McpManager, ServerState

async def main():
    mcp = McpManager(parse_servers(json.loads(sys.argv[1]), "test"))
    mcp.start()
    while mcp.status("kept").state is ServerState.STARTING:
        await asyncio.sleep(0.05)
    print(mcp.status("kept").state.value, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_no_mcp_process_outlives_a_kill_9_of_vt_tui(tmp_path: Path) -> None:
    kept_pids, hung_pids = tmp_path / "kept.pids", tmp_path / "hung.pids"
    table = {
        "kept": stdio("kept", "--pid-file", str(kept_pids), "--grandchild"),  # its grandchild ignores stdin
        "hung": stdio("hung", "--pid-file", str(hung_pids), "--hang-at-start", startup_timeout_s=600),
    }
    parent = subprocess.Popen([sys.executable, "-c", PARENT, json.dumps(table)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        pids = pids_in(kept_pids) + pids_in(hung_pids)
        children = [p.pid for p in psutil.Process(parent.pid).children(recursive=True)]
        assert len(pids) == 3 and set(pids) <= set(children), "the server, its sleep grandchild, the hung server"
        assert len(set(children) - set(pids)) == 2, "a guard per stdio server"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(children) == [], "every MCP process ends with vt-tui, SIGKILL included"
    finally:
        if parent.poll() is None:
            parent.kill()


# --- seeing them ---------------------------------------------------------------------------------------------


def config_file(tmp_path: Path) -> Path:
    argv = command("notes")
    path = tmp_path / "config" / "vt-tui" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f"[mcp_servers.notes]\ncommand = {json.dumps(argv[0])}\nargs = {json.dumps(argv[1:])}\ntrust = true\n\n"
        f'[mcp_servers.search]\nurl = "http://127.0.0.1:{closed_port()}/mcp"\n',
        encoding="utf-8",
    )
    return path


def test_vt_tui_mcp_lists_servers_and_their_tools(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "vt_tui", "--config", str(config), "mcp"],
        capture_output=True, text=True, timeout=90, cwd=REPO,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, "a server did not start"
    assert done.stderr == "" and "Traceback" not in out
    assert out.startswith("notes: ready in ") and ", 8 tools\n" in out
    assert "  stdio: " in out and "trusted: its tools run without asking" in out
    assert "  notes__search     Search the notes. Returns matching lines.\n" in out
    assert "search: failed: cannot reach http://127.0.0.1:" in out and "  streamable-http: http://127.0.0.1:" in out
    assert "asks before each tool call" in out


def test_vt_tui_mcp_without_servers_says_how_to_add_them(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vt_tui", "--config", str(tmp_path / "none.toml"), "mcp"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and "No MCP servers configured: add [mcp_servers.NAME] tables" in done.stdout


def test_doctor_lists_each_server(tmp_path: Path) -> None:
    config_file(tmp_path)
    with ScriptedServer() as server:
        done = run_doctor(tmp_path, "--base-url", server.base_url, timeout=120)
    out = done.stdout
    assert " ok " in line(out, "mcp notes") and "stdio: ready in" in line(out, "mcp notes")
    assert "8 tools; trusted" in line(out, "mcp notes")
    assert " WARN " in line(out, "mcp search") and "streamable-http: failed: cannot reach" in line(out, "mcp search")
    assert done.returncode == 0, "MCP servers never fail the doctor"
    assert done.stderr == ""


def test_ask_runs_trusted_mcp_tools_and_refuses_the_others_in_one_line(tmp_path: Path) -> None:
    argv = command("notes")
    config = tmp_path / "mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "notes": {"command": argv[0], "args": argv[1:], "trust": True},
                    "journal": {"command": argv[0], "args": [*argv[1:2], "--name", "journal"]},
                }
            }
        )
    )
    with ScriptedServer() as server:
        server.queue(
            tool_call_reply(
                [
                    ("n1", "notes__search", json.dumps({"query": "gpu", "limit": 1})),
                    ("j1", "journal__search", json.dumps({"query": "gpu"})),
                ]
            ),
            text_reply("Found it."),
        )
        done = subprocess.run(
            [sys.executable, "-m", "vt_tui", "ask", "--config", str(tmp_path / "none.toml"), "--base-url",
             server.base_url, "--engine", "openai", "--tools", "native", "--mcp-config", str(config), "find gpu"],
            capture_output=True, text=True, timeout=90, cwd=REPO,
        )  # fmt: skip
        answer_request = server.chat_requests[-1]
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Found it.\n"
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("vt-tui: not run: journal__search needs approval")
    assert "trust = true in [mcp_servers.journal] runs its tools without asking" in done.stderr
    results = {m["tool_call_id"]: m["content"] for m in answer_request["messages"] if m["role"] == "tool"}
    assert results["n1"] == "notes: result 1 for 'gpu'"
    assert "was not run: it needs the user's approval" in results["j1"]
