"""A native tool call on a real engine: the embedded llama.cpp server (llama-cpp-python on SmolLM2-135M-Instruct)
calls the calculator, the result goes back to the model, and the turn ends on the model's answer.

SmolLM2-135M does not choose a tool by itself, so the request that offers tools forces one with ``tool_choice``;
llama.cpp then constrains the reply with a grammar built from the tool's JSON schema. That grammar lets a string
run on past any closing quote the model means (llama-cpp-python 0.3.36: ``char ::= [^"\\]``; the model wrote
``{"expression": "17 * 23 }\nThe result…`` until max_tokens), so the schema sent also gives the expression a
``pattern``, which the grammar enforces. Everything else is vt-tui's real agent path: the tool step (not streamed:
llama-cpp-python cannot stream tool calls), the tool run, the tool message sent back, the events the tool panel
shows, the answer streamed. It found that llama-cpp-python refuses (500) the tool-call message LangChain sends back
with content null: its profile now says ``string_content``.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import Any

import pytest

from vt_tui.core.agent import AgentConfig, ToolRegistry
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import ToolCallFinished, ToolCallStarted, TurnFinished
from vt_tui.core.session import ChatSession, GenerationParams
from vt_tui.engines.connect import connect
from vt_tui.settings import Settings
from vt_tui.tools.calculator import calculator

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"),
]
FORCE_CALCULATOR = {"type": "function", "function": {"name": "calculator"}}
EXPRESSION = "^[0-9]{1,6} ?[-+*/] ?[0-9]{1,6}$"


class ForcingEndpoint(Endpoint):
    """The real endpoint; a request that offers tools forces the calculator, its expression constrained by a
    pattern. It keeps every request's messages and parameters as sent."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sent_messages: list[list[dict[str, Any]]] = []
        self.sent_params: list[dict[str, Any]] = []

    def request_params(self, params: dict[str, Any]) -> dict[str, Any]:
        out = super().request_params(params)
        if out.get("tools"):
            out["tool_choice"] = FORCE_CALCULATOR
            out["tools"] = [constrained(tool) for tool in out["tools"]]
        self.sent_params.append(out)
        return out

    def shape_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        shaped = super().shape_messages(messages)
        self.sent_messages.append(shaped)
        return shaped


def constrained(tool: dict[str, Any]) -> dict[str, Any]:
    function = copy.deepcopy(tool["function"])
    if function["name"] == "calculator":
        function["parameters"]["properties"]["expression"]["pattern"] = EXPRESSION
    return {**tool, "function": function}


async def test_the_real_llama_cpp_server_calls_the_calculator_and_reads_its_result() -> None:
    connection = await connect(Settings())
    endpoint = ForcingEndpoint(connection.endpoint.base_url, engine="llama-cpp")
    try:
        agent = AgentConfig(mode="native", max_steps=3, registry=ToolRegistry(tools=[calculator], builtins=False))
        session = ChatSession(endpoint, params=GenerationParams(temperature=0, max_tokens=48), agent=agent)
        events = [event async for event in session.run_turn("What is 17 * 23? Use the calculator.")]
    finally:
        await endpoint.aclose()
        await connection.aclose()
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    print(f"\n[embedded] call {started[0].args if started else None} -> {finished[0] if finished else None}")
    assert isinstance(events[-1], TurnFinished), events[-1]
    assert [(e.name, e.step) for e in started] == [("calculator", 1)]
    assert set(started[0].args) == {"expression"}  # arguments valid JSON, to the tool's schema
    assert [(e.call_id, e.status) for e in finished] == [(started[0].call_id, "ok")]
    result = finished[0].result
    assert result == calculator.invoke(started[0].args)  # what the tool computed is what the panel shows
    # The result reached the model: the second request carries the call and its result, and forces nothing.
    assert [p["tool_choice"] for p in endpoint.sent_params if "tool_choice" in p] == [FORCE_CALCULATOR]
    assert "tools" not in endpoint.sent_params[-1] and len(endpoint.sent_messages) == 2
    second = endpoint.sent_messages[-1]
    call, answer = second[-2], second[-1]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == "calculator"
    assert answer == {"role": "tool", "content": result, "tool_call_id": call["tool_calls"][0]["id"]}
    assert events[-1].stats.steps == 2 and events[-1].stats.tool_calls == 1
