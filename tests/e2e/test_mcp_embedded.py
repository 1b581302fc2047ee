"""An agent turn on the REAL embedded model (llama-cpp-python serving the shipped SmolLM2-135M) that calls a tool of
a REAL MCP server, end to end: the model writes the call, vt-tui runs it on the server, the result goes back.

SmolLM2-135M never calls a tool by itself, so the turn is forced: llama.cpp's GBNF ``grammar`` (sent with every
step) only lets it write a text-protocol tool block for ``notes__search``. Two steps at most: the first call runs,
the second step gets its result and, still held to the grammar, asks again; the turn ends at max_steps.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mcp_server import command
from vt_tui.core.agent import AgentConfig, ToolRegistry
from vt_tui.core.events import ToolCallFinished, ToolCallStarted, TurnFinished
from vt_tui.core.mcp.config import parse_servers
from vt_tui.core.mcp.manager import McpManager, ServerState
from vt_tui.core.session import ChatSession, GenerationParams
from vt_tui.engines.connect import connect
from vt_tui.settings import Settings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"),
]

FORCED_CALL = r"""root ::= "```tool\n" call "\n```"
call ::= "{\"name\": \"notes__search\", \"arguments\": " args "}"
args ::= "{\"query\": \"" [a-z]{1,12} "\", \"limit\": 1}"
"""


@dataclass
class ForcedParams(GenerationParams):
    """The session's parameters plus llama.cpp's ``grammar`` (it travels as an extra request field)."""

    grammar: str | None = None


async def test_the_embedded_model_calls_an_mcp_tool(tmp_path: Path) -> None:
    argv = command("notes")
    mcp = McpManager(
        parse_servers({"notes": {"command": argv[0], "args": argv[1:], "trust": True}}, "test"), log_dir=tmp_path
    )
    registry = ToolRegistry(builtins=False, plugins=None)
    mcp.feed(registry)
    connection = await connect(Settings())
    try:
        (status,) = await mcp.wait_started()
        assert status.state is ServerState.READY, status.summary
        session = ChatSession(
            connection.endpoint,
            params=ForcedParams(temperature=0, max_tokens=64, grammar=FORCED_CALL),
            agent=AgentConfig(mode="text", max_steps=2, registry=registry),
        )
        assert session.tool_mode() == "text"
        events = [event async for event in session.run_turn("Search my notes for gpu.")]
    finally:
        await connection.aclose()
        await mcp.aclose()
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert started and started[0].name == "notes__search" and set(started[0].args) == {"query", "limit"}
    query = started[0].args["query"]
    assert finished[0].status == "ok" and finished[0].result == f"notes: result 1 for {query!r}"
    last = events[-1]
    assert isinstance(last, TurnFinished) and last.stats.steps == 2, "the result went back for a second step"
