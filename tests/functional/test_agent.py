"""Agent turns against the scripted loopback server: native and text tool calls, every failure, approvals, store.

Real parts only: real HTTP and SSE from the scripted server, LangChain's real agent loop, real tools.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool, StructuredTool

from tests.support.loop_turns import LOOP_TURNS_AT_ONCE, LoopTurns
from tests.support.scripted_server import Reply, ScriptedServer, text_reply, tool_call_reply
from vt_tui.core.agent import AgentConfig, ApprovalRequest, ToolRegistry
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import EndpointError, ErrorKind
from vt_tui.core.events import (
    ReasoningDelta,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    event_to_json,
)
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store
from vt_tui.tools.calculator import calculator

# --- test tools and helpers ------------------------------------------------------------------------


@dataclass
class Probe:
    """What the test tools saw."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False
    fetched: list[str] = field(default_factory=list)


def make_tools(probe: Probe) -> list[BaseTool]:
    async def slow(seconds: float) -> str:
        """Wait ``seconds`` seconds, then say so."""
        probe.started.set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            probe.cancelled = True
            raise
        return f"waited {seconds} s"

    def boom(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(f"kaboom: {reason}")

    async def fetch(url: str) -> str:
        """Fetch a URL (risky)."""
        probe.fetched.append(url)
        return f"contents of {url}"

    return [
        calculator,
        StructuredTool.from_function(coroutine=slow, name="slow"),
        StructuredTool.from_function(func=boom, name="boom"),
        StructuredTool.from_function(coroutine=fetch, name="fetch", metadata={"risky": True}),
    ]


@pytest.fixture
def probe() -> Probe:
    return Probe()


def make_session(server: ScriptedServer, probe: Probe, *, engine: str = "openai", **kw: Any) -> ChatSession:
    registry = ToolRegistry(builtins=False, plugins=None, tools=make_tools(probe))
    agent = AgentConfig(
        mode=kw.pop("mode", "auto"),
        max_steps=kw.pop("max_steps", 6),
        registry=registry,
        approver=kw.pop("approver", None),
        allow=frozenset(kw.pop("allow", ())),
        tool_timeout_s=kw.pop("tool_timeout_s", 30.0),
    )
    endpoint = Endpoint(server.base_url, request_timeout=kw.pop("timeout", 10.0), engine=engine)
    return ChatSession(endpoint, agent=agent, **kw)


async def run(session: ChatSession, text: str = "hi") -> list:
    return [event async for event in session.run_turn(text)]


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def shown(events: list) -> str:
    return "".join(e.text for e in of(events, TextDelta))


def calc(call_id: str, expression: str) -> tuple[str, str, str]:
    return (call_id, "calculator", json.dumps({"expression": expression}))


class Approver:
    """A scripted user: answers the approval prompts in order and remembers what it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    async def __call__(self, request: ApprovalRequest) -> str:
        self.asked.append(request)
        return self.answers.pop(0)


# --- native tool calls -----------------------------------------------------------------------------


async def test_streamed_tool_call_round_trip(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(
        tool_call_reply([calc("call_a", "17 * 23")], content="Let me compute that."),
        text_reply("17 × 23 = 391."),
    )
    events = await run(make_session(scripted, probe), "What is 17*23?")
    assert isinstance(events[0], TurnStarted)
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == ["TurnStarted", "ToolCallStarted", "ToolCallFinished", "TurnFinished"]
    started, finished = of(events, ToolCallStarted)[0], of(events, ToolCallFinished)[0]
    assert (started.call_id, started.name, started.args, started.step) == (
        "call_a",
        "calculator",
        {"expression": "17 * 23"},
        1,
    )
    assert (finished.status, finished.result, finished.error) == ("ok", "391", None)
    assert 0 <= finished.duration_s < 1
    done = events[-1]
    assert isinstance(done, TurnFinished)
    assert done.text == shown(events) == "Let me compute that.\n\n17 × 23 = 391."
    assert done.stats.steps == 2 and done.stats.tool_calls == 1 and done.stats.finish_reason == "stop"
    first, second = scripted.chat_requests
    assert first["stream"] is True and [t["function"]["name"] for t in first["tools"]] == [
        "calculator",
        "slow",
        "boom",
        "fetch",
    ]
    assert first["max_tokens"] == 1024 and "max_completion_tokens" not in first
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_a"
    assert second["messages"][-1] == {"role": "tool", "content": "391", "tool_call_id": "call_a"}
    json.dumps([event_to_json(e) for e in events])  # every event is JSON-ready for `ask --json`


@pytest.mark.parametrize("split", [2, 7, 40])
async def test_argument_deltas_split_anywhere(scripted: ScriptedServer, probe: Probe, split: int) -> None:
    scripted.queue(tool_call_reply([calc("c1", "2 ** 10 + sqrt(16)")], split=split), text_reply("done"))
    events = await run(make_session(scripted, probe))
    assert of(events, ToolCallStarted)[0].args == {"expression": "2 ** 10 + sqrt(16)"}
    assert of(events, ToolCallFinished)[0].result == "1028"


async def test_deltas_that_repeat_id_and_name(scripted: ScriptedServer, probe: Probe) -> None:
    """llama.cpp repeats id, type and name in every delta; LangChain alone would concatenate the names."""
    scripted.queue(tool_call_reply([calc("c1", "6*7"), calc("c2", "1+1")], split=4, repeat_id=True), text_reply("ok"))
    events = await run(make_session(scripted, probe))
    assert [(e.call_id, e.name) for e in of(events, ToolCallStarted)] == [("c1", "calculator"), ("c2", "calculator")]
    assert [e.result for e in of(events, ToolCallFinished)] == ["42", "2"]
    assert [c["function"]["name"] for c in scripted.chat_requests[1]["messages"][-3]["tool_calls"]] == [
        "calculator",
        "calculator",
    ]


async def test_two_calls_in_one_turn_both_answered_in_order(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(tool_call_reply([calc("x1", "1+2"), calc("x2", "3*4")]), text_reply("3 and 12"))
    events = await run(make_session(scripted, probe))
    assert [e.call_id for e in of(events, ToolCallStarted)] == ["x1", "x2"]
    assert sorted((e.call_id, e.result) for e in of(events, ToolCallFinished)) == [("x1", "3"), ("x2", "12")]
    tool_messages = [m for m in scripted.chat_requests[1]["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tool_messages] == [("x1", "3"), ("x2", "12")]
    assert events[-1].stats.tool_calls == 2


async def test_reused_call_ids_are_made_unique_per_turn(scripted: ScriptedServer, probe: Probe) -> None:
    """Some servers number calls call_0, call_1 … in every reply: the store and the panel need unique ids."""
    scripted.queue(tool_call_reply([calc("call_0", "1")]), tool_call_reply([calc("call_0", "2")]), text_reply("done"))
    events = await run(make_session(scripted, probe))
    ids = [e.call_id for e in of(events, ToolCallStarted)]
    assert ids[0] == "call_0" and ids[1] != "call_0" and len(set(ids)) == 2
    assert [e.step for e in of(events, ToolCallStarted)] == [1, 2]
    assert scripted.chat_requests[2]["messages"][-1]["tool_call_id"] == ids[1]


async def test_reasoning_is_reported_not_mixed_into_the_text(scripted: ScriptedServer, probe: Probe) -> None:
    thinking = tool_call_reply([calc("c1", "1+1")])
    thinking.chunks[:0] = [{"reasoning_content": "The user wants "}, {"reasoning_content": "a sum."}]
    scripted.queue(thinking, text_reply("2"))
    events = await run(make_session(scripted, probe))
    assert "".join(e.text for e in of(events, ReasoningDelta)) == "The user wants a sum."
    assert events[-1].text == "2"
    assert "reasoning" not in json.dumps(scripted.chat_requests[1]["messages"])  # not sent back


def collapsed(events: list) -> list[str]:
    """Event kinds in order, runs of TextDelta as one."""
    kinds = [type(e).__name__ for e in events]
    return [k for i, k in enumerate(kinds) if not (k == "TextDelta" and i and kinds[i - 1] == k)]


@pytest.mark.parametrize("mode", ["native", "text"])
async def test_text_and_tool_events_in_the_order_they_happened(
    scripted: ScriptedServer, probe: Probe, mode: str
) -> None:
    """Text goes to the turn straight from the stream, tool events from the middleware: still in order."""
    if mode == "native":
        first = tool_call_reply([calc("c1", "6*7")], content="Let me compute.")
    else:
        first = text_reply('Let me compute.\n```tool\n{"name": "calculator", "arguments": {"expression": "6*7"}}\n```')
    scripted.queue(first, text_reply("It is 42."))
    events = await run(make_session(scripted, probe, mode=mode))
    assert collapsed(events) == [
        "TurnStarted",
        "TextDelta",
        "ToolCallStarted",
        "ToolCallFinished",
        "TextDelta",
        "TurnFinished",
    ]
    assert events[-1].text == "Let me compute.\n\nIt is 42."


@pytest.mark.parametrize("mode", ["native", "text"])
async def test_streamed_text_does_not_go_through_langchain_chunk_by_chunk(
    scripted: ScriptedServer, probe: Probe, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """LangChain's per-chunk path (SDK chunk objects, callbacks, chunk merging) cost ~400 µs a chunk: a fast
    engine's answer fell seconds behind. Text goes to the turn directly; LangChain sees a few chunks per step."""
    from langchain_core.callbacks.manager import AsyncCallbackManagerForLLMRun

    new_token = AsyncCallbackManagerForLLMRun.on_llm_new_token
    entered = 0

    async def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal entered
        entered += 1
        await new_token(self, *args, **kwargs)

    monkeypatch.setattr(AsyncCallbackManagerForLLMRun, "on_llm_new_token", counted)
    answer = " ".join(f"w{i}" for i in range(300))
    if mode == "native":
        first = tool_call_reply([calc("c1", "1+1")], split=3)
    else:
        first = text_reply('```tool\n{"name": "calculator", "arguments": {"expression": "1+1"}}\n```', pieces=20)
    scripted.queue(first, text_reply(answer, usage={"completion_tokens": 300, "prompt_tokens": 50}))
    events = await run(make_session(scripted, probe, mode=mode))
    done = events[-1]
    assert isinstance(done, TurnFinished) and done.text == shown(events) == answer
    assert of(events, ToolCallFinished)[0].result == "2"
    assert done.stats.steps == 2 and done.stats.finish_reason == "stop"
    assert entered <= 12, f"LangChain's per-chunk callbacks ran {entered} times for ~320 streamed chunks"


@pytest.mark.parametrize("engine", ["openai", "llama-factory"])
async def test_usage_adds_up_over_the_steps(scripted: ScriptedServer, probe: Probe, engine: str) -> None:
    """Server token counts of every step are summed (the tool step non-streamed on LLaMA-Factory); one step
    without them and the turn counts chunks instead."""
    scripted.refuse_streamed_tools = engine == "llama-factory"
    scripted.queue(
        tool_call_reply([calc("c1", "1+1")], usage={"prompt_tokens": 40, "completion_tokens": 12}),
        text_reply("It is 2.", usage={"prompt_tokens": 60, "completion_tokens": 5}),
    )
    session = make_session(scripted, probe, engine=engine)
    stats = (await run(session))[-1].stats
    if engine == "openai":
        assert (stats.tokens, stats.tokens_source, stats.prompt_tokens) == (17, "server", 60)
    else:  # LLaMA-Factory sends no usage in a stream: counted
        assert stats.tokens_source == "counted" and stats.tokens >= 3
    assert stats.steps == 2 and stats.tool_calls == 1
    scripted.queue(tool_call_reply([calc("c2", "2+2")]), text_reply("It is 4.", usage={"completion_tokens": 5}))
    stats = (await run(session))[-1].stats
    assert stats.tokens_source == "counted" and stats.steps == 2
    assert scripted.refused == []


@pytest.mark.parametrize("mode", ["native", "text"])
async def test_the_turn_ends_as_soon_as_the_answer_has_streamed(
    scripted: ScriptedServer, probe: Probe, mode: str
) -> None:
    """After the answer, LangGraph's own wind-down took ~20 event-loop turns: 0.3 s while the UI is busy drawing a
    fast stream. The turn ends within a few (counted, not timed) once the answer's stream has been read."""
    turns, ended = 0, None

    async def count_loop_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    session = make_session(scripted, probe, mode=mode)
    stream_chat = session.endpoint.stream_chat

    async def marked(*args: Any, **kwargs: Any):
        nonlocal ended
        async for chunk in stream_chat(*args, **kwargs):
            yield chunk
        ended = turns

    session.endpoint.stream_chat = marked  # type: ignore[method-assign]
    scripted.queue(text_reply("Paris is the capital of France."))
    counter = asyncio.create_task(count_loop_turns())
    try:
        events = await run(session, "capital?")
        finished_at = turns
    finally:
        counter.cancel()
    assert isinstance(events[-1], TurnFinished) and events[-1].text == "Paris is the capital of France."
    assert ended is not None, "the answer was not streamed by Endpoint.stream_chat"
    assert finished_at - ended <= 6, f"{finished_at - ended} event-loop turns from the answer's end to TurnFinished"


def test_tool_call_deltas_are_put_together_like_langchain_does() -> None:
    from vt_tui.core.agent.runner import _ToolDelta

    def built(deltas: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        calls: dict[Any, _ToolDelta] = {}
        for delta in deltas:
            _ToolDelta.add(calls, delta)
        return [(index, c.id, c.name, c.args) for index, c in calls.items()]

    def delta(index: int | None, call_id: str | None, name: str | None, args: str) -> dict[str, Any]:
        out: dict[str, Any] = {"function": {"arguments": args}}
        if index is not None:
            out["index"] = index
        if call_id:
            out.update(id=call_id, type="function")
        if name:
            out["function"]["name"] = name
        return out

    openai = [delta(0, "a", "calc", ""), delta(0, None, None, '{"x"'), delta(0, None, None, ": 1}")]
    assert built(openai) == [(0, "a", "calc", '{"x": 1}')]
    llama_cpp = [delta(0, "a", "calc", '{"x"'), delta(0, "a", "calc", ": 1}"), delta(1, "b", "calc", "{}")]
    assert built(llama_cpp) == [(0, "a", "calc", '{"x": 1}'), (1, "b", "calc", "{}")]
    name_later = [delta(0, "a", None, ""), delta(0, None, "calc", "{}"), delta(0, "a", "calc", "")]
    assert built(name_later) == [(0, "a", "calc", "{}")]
    no_index = [delta(None, "a", "calc", "{}"), delta(None, None, None, ""), delta(None, "b", "calc", "{}")]
    assert built(no_index) == [(0, "a", "calc", "{}"), (1, "b", "calc", "{}")]


# --- failures become tool errors, never exceptions -------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (("m1", "calculator", '{"expression": 2 +* 2}'), "not valid JSON"),
        (("m1", "no_such_tool", '{"x": 1}'), "unknown tool 'no_such_tool'"),
        (("m1", "calculator", '{"expr": "1+1"}'), "invalid arguments for calculator: expression"),
        (("m1", "calculator", '{"expression": ["1"]}'), "invalid arguments"),
        (("m1", "calculator", '{"expression": "__import__(\'os\')"}'), "not allowed"),
        (("m1", "boom", '{"reason": "test"}'), "boom failed: RuntimeError: kaboom: test"),
    ],
)
async def test_bad_calls_go_back_to_the_model_as_errors(
    scripted: ScriptedServer, probe: Probe, call: tuple[str, str, str], words: str
) -> None:
    scripted.queue(tool_call_reply([call]), text_reply("Sorry, that did not work."))
    events = await run(make_session(scripted, probe))
    finished = of(events, ToolCallFinished)
    assert len(finished) == 1 and finished[0].status == "error" and finished[0].result is None
    assert words in finished[0].error, finished[0].error
    assert "Traceback" not in finished[0].error
    assert isinstance(events[-1], TurnFinished) and events[-1].text == "Sorry, that did not work."
    told = scripted.chat_requests[1]["messages"][-1]
    assert told["role"] == "tool" and told["tool_call_id"] == "m1" and told["content"].startswith("Error: ")
    assert words in told["content"]


async def test_tool_timeout(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(tool_call_reply([("t1", "slow", '{"seconds": 30}')]), text_reply("It took too long."))
    started = time.perf_counter()
    events = await run(make_session(scripted, probe, tool_timeout_s=0.3))
    assert time.perf_counter() - started < 5
    finished = of(events, ToolCallFinished)[0]
    assert finished.status == "error" and "timed out after 0.3 s" in finished.error
    assert 0.25 < finished.duration_s < 2 and probe.cancelled
    assert isinstance(events[-1], TurnFinished)


async def test_server_error_mid_turn_is_a_typed_failure(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(tool_call_reply([calc("c1", "1+1")]), Reply(status=503, body={"detail": "loading model"}))
    events = await run(make_session(scripted, probe))
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and not failed.cancelled
    assert failed.error.kind is ErrorKind.SERVER and "loading model" in str(failed.error)
    assert of(events, ToolCallFinished)[0].status == "ok"


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (text_reply("one two three four five", cut_after=3), ErrorKind.STREAM_CUT),
        (text_reply("one two three four five", malformed_at=3), ErrorKind.MALFORMED),
        (text_reply("one two three", extra_events=['{"error": {"message": "out of memory"}}']), ErrorKind.SERVER),
    ],
)
async def test_a_broken_answer_stream_keeps_the_partial_text(
    scripted: ScriptedServer, probe: Probe, reply: Reply, kind: ErrorKind
) -> None:
    scripted.queue(tool_call_reply([calc("c1", "1+1")]), reply)
    events = await run(make_session(scripted, probe))
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and not failed.cancelled and failed.error.kind is kind, failed
    assert failed.partial_text == ("one two three" if kind is ErrorKind.SERVER else "one two")
    assert of(events, ToolCallFinished)[0].status == "ok"


async def test_connection_refused_is_a_typed_failure(probe: Probe) -> None:
    from tests.support.ports import closed_port

    registry = ToolRegistry(builtins=False, plugins=None, tools=make_tools(probe))
    endpoint = Endpoint(f"http://127.0.0.1:{closed_port()}/v1", engine="openai")
    events = await run(ChatSession(endpoint, model="m", agent=AgentConfig(registry=registry)))
    assert isinstance(events[-1], TurnFailed) and events[-1].error.kind is ErrorKind.CONNECTION


# --- steps and cancel ------------------------------------------------------------------------------


async def test_max_steps_makes_the_last_request_toolless(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(
        tool_call_reply([calc("s1", "1")]), tool_call_reply([calc("s2", "2")]), text_reply("Here is what I have.")
    )
    events = await run(make_session(scripted, probe, max_steps=3))
    assert [e.step for e in of(events, ToolCallStarted)] == [1, 2]
    requests = scripted.chat_requests
    assert len(requests) == 3 and "tools" in requests[0] and "tools" in requests[1] and "tools" not in requests[2]
    assert "cannot call tools any more" in requests[2]["messages"][0]["content"]
    assert events[-1].text.endswith("Here is what I have.") and events[-1].stats.steps == 3


async def test_max_steps_stops_a_model_that_insists(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(*(tool_call_reply([calc(f"s{n}", str(n))]) for n in range(5)))
    events = await run(make_session(scripted, probe, max_steps=2))
    done = events[-1]
    assert isinstance(done, TurnFinished) and done.stats.finish_reason == "max_steps"
    assert len(of(events, ToolCallStarted)) == 1 and len(scripted.chat_requests) == 2
    assert "max_steps" in done.text  # said, rather than an empty reply


async def test_cancel_during_a_tool_call(scripted: ScriptedServer, probe: Probe, tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    scripted.queue(tool_call_reply([("w1", "slow", '{"seconds": 30}')], content="Waiting."))
    session = make_session(scripted, probe, store=store)
    events, turns = [], LoopTurns()
    async for event in session.run_turn("wait"):
        events.append(event)
        if isinstance(event, ToolCallStarted):
            await asyncio.wait_for(probe.started.wait(), 5)
            turns.start()
            session.cancel()
    took = turns.stop()
    assert took < LOOP_TURNS_AT_ONCE, f"cancel took {took} event-loop turns (the tool sleeps 30 s)"
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and failed.cancelled and failed.partial_text == "Waiting."
    finished = of(events, ToolCallFinished)
    assert [(f.call_id, f.status) for f in finished] == [("w1", "cancelled")]
    await asyncio.sleep(0)
    assert probe.cancelled and not session.busy
    assert session.turns[-1].status == "cancelled"
    assert [(r["call_id"], r["status"]) for r in store.tool_calls(session.conversation_id)] == [("w1", "cancelled")]


async def test_cancel_while_the_answer_streams(scripted: ScriptedServer, probe: Probe) -> None:
    """The answer's stream goes quiet for 30 s after a few words: the cancel must not wait for it."""
    scripted.queue(
        tool_call_reply([calc("c1", "1")]), text_reply(" ".join(f"w{i}" for i in range(200)), pause_at=5, pause_s=30)
    )
    session = make_session(scripted, probe)
    events, turns = [], LoopTurns()
    async for event in session.run_turn("long"):
        events.append(event)
        if isinstance(event, TextDelta) and "w3" in event.text:
            turns.start()
            session.cancel()
    took = turns.stop()
    assert took < LOOP_TURNS_AT_ONCE, f"cancel took {took} event-loop turns"
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and failed.cancelled and failed.partial_text.startswith("w0 w1")


async def test_turn_after_a_cancelled_agent_turn_works(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(tool_call_reply([("w1", "slow", '{"seconds": 30}')]))
    session = make_session(scripted, probe)
    async for event in session.run_turn("wait"):
        if isinstance(event, ToolCallStarted):
            await asyncio.wait_for(probe.started.wait(), 5)
            session.cancel()
    scripted.queue(text_reply("fresh answer"))
    events = await run(session, "again")
    assert isinstance(events[-1], TurnFinished) and events[-1].text == "fresh answer"
    assert [m["role"] for m in scripted.chat_requests[-1]["messages"]] == ["user"]  # the cancelled turn is not sent


# --- approvals -------------------------------------------------------------------------------------


def fetch_call(call_id: str, url: str) -> tuple[str, str, str]:
    return (call_id, "fetch", json.dumps({"url": url}))


async def test_approval_once_runs_the_tool(scripted: ScriptedServer, probe: Probe) -> None:
    approver = Approver("once")
    scripted.queue(tool_call_reply([fetch_call("f1", "https://example.com/a")]), text_reply("read it"))
    events = await run(make_session(scripted, probe, approver=approver))
    assert [(a.call_id, a.name, a.scope, a.args) for a in approver.asked] == [
        ("f1", "fetch", "example.com", {"url": "https://example.com/a"})
    ]
    started = of(events, ToolCallStarted)[0]
    assert started.risky
    assert of(events, ToolCallFinished)[0].status == "ok" and probe.fetched == ["https://example.com/a"]


async def test_approval_deny_tells_the_model(scripted: ScriptedServer, probe: Probe) -> None:
    approver = Approver("deny")
    scripted.queue(tool_call_reply([fetch_call("f1", "https://example.com/a")]), text_reply("ok, I won't"))
    events = await run(make_session(scripted, probe, approver=approver))
    finished = of(events, ToolCallFinished)[0]
    assert finished.status == "denied" and "denied" in finished.error and probe.fetched == []
    told = scripted.chat_requests[1]["messages"][-1]["content"]
    assert "The user denied the call to fetch" in told
    assert isinstance(events[-1], TurnFinished)


async def test_approval_always_remembers_the_host_for_the_session(scripted: ScriptedServer, probe: Probe) -> None:
    approver = Approver("always", "once")
    session = make_session(scripted, probe, approver=approver)
    scripted.queue(
        tool_call_reply([fetch_call("f1", "https://example.com/a")]),
        tool_call_reply([fetch_call("f2", "https://EXAMPLE.com/b"), fetch_call("f3", "https://other.org/")]),
        text_reply("done"),
    )
    await run(session)
    scripted.queue(tool_call_reply([fetch_call("f4", "https://example.com/c")]), text_reply("done again"))
    events = await run(session, "next turn")
    assert [a.scope for a in approver.asked] == ["example.com", "other.org"]
    assert len(probe.fetched) == 4 and of(events, ToolCallFinished)[0].status == "ok"
    # a new conversation in the same app run shares the config, and so the answer
    other = ChatSession(session.endpoint, agent=session.agent)
    scripted.queue(tool_call_reply([fetch_call("f5", "https://example.com/d")]), text_reply("and again"))
    await run(other, "new conversation")
    assert len(approver.asked) == 2 and len(probe.fetched) == 5


async def test_headless_denies_risky_tools_unless_allowed(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(
        tool_call_reply([fetch_call("f1", "https://example.com/"), fetch_call("f2", "http://127.0.0.1:8080/x")]),
        text_reply("partly"),
    )
    events = await run(make_session(scripted, probe, allow=("127.0.0.1:8080",)))
    statuses = {e.call_id: (e.status, e.error) for e in of(events, ToolCallFinished)}
    assert statuses["f2"] == ("ok", None)
    assert statuses["f1"][0] == "denied" and "needs approval" in statuses["f1"][1]
    assert probe.fetched == ["http://127.0.0.1:8080/x"]


async def test_cancel_while_waiting_for_approval(scripted: ScriptedServer, probe: Probe) -> None:
    asked = asyncio.Event()
    prompt_cancelled = False

    async def forever(request: ApprovalRequest) -> str:
        nonlocal prompt_cancelled
        asked.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            prompt_cancelled = True
            raise
        return "once"

    scripted.queue(tool_call_reply([fetch_call("f1", "https://example.com/")]))
    session = make_session(scripted, probe, approver=forever)
    events = []
    async for event in session.run_turn("fetch"):
        events.append(event)
        if isinstance(event, ToolCallStarted):
            await asyncio.wait_for(asked.wait(), 5)
            session.cancel()
    assert isinstance(events[-1], TurnFailed) and events[-1].cancelled
    assert prompt_cancelled and probe.fetched == []


async def test_a_failing_approver_denies(scripted: ScriptedServer, probe: Probe) -> None:
    async def broken(request: ApprovalRequest) -> str:
        raise RuntimeError("no screen")

    scripted.queue(tool_call_reply([fetch_call("f1", "https://example.com/")]), text_reply("ok"))
    events = await run(make_session(scripted, probe, approver=broken))
    assert of(events, ToolCallFinished)[0].status == "denied" and isinstance(events[-1], TurnFinished)


# --- engines without streamed tool calls (LLaMA-Factory) -------------------------------------------


async def test_tool_steps_unstreamed_then_the_answer_streamed(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.refuse_streamed_tools = scripted.strict_alternation = True  # as LLaMA-Factory does
    scripted.queue(
        tool_call_reply([calc("call_1", "6*7"), calc("call_2", "2+2")]),
        text_reply("Six times seven is 42 and two plus two is 4.", chunk_delay=0.005),
    )
    session = make_session(scripted, probe, engine="llama-factory", system="Be brief.")
    events = await run(session, "compute")
    assert isinstance(events[-1], TurnFinished), events[-1]
    first, second = scripted.chat_requests
    assert first["stream"] is False and first["tools"] and first["max_tokens"] == 1024
    assert second["stream"] is True and "tools" not in second
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][-1]["content"] == "calculator: 42\n\ncalculator: 4"  # two results merged
    assert len(of(events, TextDelta)) > 3  # the answer streamed
    assert events[-1].text == "Six times seven is 42 and two plus two is 4."
    assert scripted.refused == []


async def test_an_unstreamed_tool_step_is_sent_again_on_a_dropped_connection(
    scripted: ScriptedServer, probe: Probe
) -> None:
    """LLaMA-Factory drops the kept-alive connection after its 500s; the next (non-streamed) step must survive."""
    scripted.refuse_streamed_tools = scripted.strict_alternation = True
    session = make_session(scripted, probe, engine="llama-factory")
    scripted.queue(Reply(chunks=[{"content": "Hello."}], message={"role": "assistant", "content": "Hello."},
                         drop_next=True))  # fmt: skip
    await run(session, "first")
    scripted.queue(tool_call_reply([calc("call_1", "6*7")]), text_reply("It is 42."))
    events = await run(session, "compute")
    assert scripted.dropped == 1
    assert isinstance(events[-1], TurnFinished) and events[-1].text == "It is 42."
    assert of(events, ToolCallFinished)[0].result == "42"
    assert scripted.refused == []


async def test_unstreamed_engine_answering_directly(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.refuse_streamed_tools = scripted.strict_alternation = True
    scripted.queue(text_reply("Paris."))
    session = make_session(scripted, probe, engine="llama-factory")
    await run(session, "first")  # history for the next turn
    scripted.queue(text_reply("Still Paris."))
    events = await run(session, "capital of France?")
    assert events[-1].text == "Still Paris." and len(scripted.chat_requests) == 2
    assert scripted.chat_requests[1]["stream"] is False
    assert scripted.refused == []


# --- the text protocol -----------------------------------------------------------------------------


async def test_text_protocol_round_trip(scripted: ScriptedServer, probe: Probe) -> None:
    reply = 'I will use the calculator.\n```tool\n{"name": "calculator", "arguments": {"expression": "6*7"}}\n```\n'
    scripted.queue(text_reply(reply, pieces=17), text_reply("The answer is 42."))
    session = make_session(scripted, probe, engine="auto", system="Be brief.")  # scripted: generic → text
    events = await run(session, "6*7?")
    assert session.tool_mode() == "text"
    assert "```" not in shown(events) and events[-1].text == "I will use the calculator.\n\nThe answer is 42."
    started = of(events, ToolCallStarted)[0]
    assert (started.name, started.args, started.step) == ("calculator", {"expression": "6*7"}, 1)
    assert of(events, ToolCallFinished)[0].result == "42"
    first, second = scripted.chat_requests
    assert "tools" not in first and "tools" not in second
    system = first["messages"][0]["content"]
    assert system.startswith("Be brief.") and "```tool" in system and '"expression":{"type":"string"}' in system
    assert second["messages"][-2] == {"role": "assistant", "content": reply}
    assert second["messages"][-1] == {"role": "user", "content": "Tool result for calculator: 42"}


async def test_text_protocol_bad_block_is_an_error_the_model_reads(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.queue(
        text_reply('```tool\n{"name": "calculator", "arguments": {"expression": 6*7}}\n```'),
        text_reply('```tool\n{"name": "calculator", "arguments": {"expression": "6*7"}}'),  # unclosed: fine
        text_reply("42."),
    )
    events = await run(make_session(scripted, probe, mode="text"))
    finished = of(events, ToolCallFinished)
    assert [f.status for f in finished] == ["error", "ok"]
    assert "not valid JSON" in finished[0].error and finished[0].call_id != finished[1].call_id
    told = scripted.chat_requests[1]["messages"][-1]
    assert told["role"] == "user" and told["content"].startswith("Tool result for calculator: Error: ")
    assert events[-1].text == "42."


async def test_text_protocol_two_results_in_one_user_message(scripted: ScriptedServer, probe: Probe) -> None:
    scripted.strict_alternation = True
    scripted.queue(
        text_reply(
            '```tool\n{"name": "calculator", "arguments": {"expression": "1"}}\n```\n'
            '<tool_call>{"name": "calculator", "arguments": {"expression": "2"}}</tool_call>'
        ),
        text_reply("1 and 2"),
    )
    events = await run(make_session(scripted, probe, mode="text", engine="llama-factory"))
    assert isinstance(events[-1], TurnFinished), events[-1]
    last = scripted.chat_requests[1]["messages"][-1]
    assert last["content"] == "Tool result for calculator: 1\n\nTool result for calculator: 2"
    assert scripted.refused == []


@pytest.mark.parametrize(
    ("history", "stream", "refusal"),
    [
        ([("user", "a"), ("user", "b")], False, "Only supports u/a/u/a/u..."),
        ([("user", "a"), ("system", "s"), ("user", "b")], True, "Invalid role"),
        ([("user", "a")], True, "Cannot stream function calls."),
    ],
)
async def test_the_llamafactory_refusals_are_real(
    scripted: ScriptedServer, history: list[tuple[str, str]], stream: bool, refusal: str
) -> None:
    """The switches the tests above set are read: what LLaMA-Factory refuses is refused, as it refuses it (400
    with a FastAPI body; a stream that opens and closes empty), so a request vt-tui shaped wrong would fail them."""
    scripted.refuse_streamed_tools = scripted.strict_alternation = True
    endpoint = Endpoint(scripted.base_url, engine="openai")  # a profile that shapes nothing and streams tools
    messages = [{"role": role, "content": text} for role, text in history]
    tools = [{"type": "function", "function": {"name": "calculator", "parameters": {"type": "object"}}}]
    try:
        with pytest.raises(EndpointError) as caught:
            if stream:
                async for _ in endpoint.stream_chat("m", messages, {"tools": tools}):
                    pass
            else:
                await endpoint.complete("m", messages, {})
    finally:
        await endpoint.aclose()
    assert scripted.refused == [refusal]
    if stream:
        assert caught.value.kind is ErrorKind.STREAM_CUT  # what the client sees: the stream ends with nothing
    else:
        assert caught.value.status == 400 and refusal in caught.value.message


async def test_text_protocol_plain_answer_is_untouched(scripted: ScriptedServer, probe: Probe) -> None:
    answer = "Use ```python\nprint(1)\n``` blocks; `tool` is a word."
    scripted.queue(text_reply(answer, pieces=9))
    events = await run(make_session(scripted, probe, mode="text"))
    assert events[-1].text == answer and not of(events, ToolCallStarted)


# --- modes, store, startup -------------------------------------------------------------------------


async def test_mode_off_and_no_tools_keep_the_plain_path(scripted: ScriptedServer, probe: Probe) -> None:
    off = make_session(scripted, probe, mode="off")
    assert (await run(off))[-1].text == "You said: hi" and off._runner is None
    empty = ChatSession(
        Endpoint(scripted.base_url, engine="openai"),
        agent=AgentConfig(registry=ToolRegistry(builtins=False, plugins=None)),
    )
    assert (await run(empty))[-1].text == "You said: hi" and empty._runner is None
    assert all("tools" not in r for r in scripted.chat_requests)


async def test_tool_calls_are_stored_with_the_turn(scripted: ScriptedServer, probe: Probe, tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    scripted.queue(
        tool_call_reply([calc("c1", "2+3"), ("c2", "no_such_tool", "{}")]),
        text_reply("5"),
    )
    session = make_session(scripted, probe, store=store, params=GenerationParams(max_tokens=50))
    await run(session, "add")
    reopened = Store(tmp_path / "c.sqlite3")
    rows = reopened.tool_calls(session.conversation_id)
    assert [(r["call_id"], r["name"], r["args"], r["status"], r["result"]) for r in rows] == [
        ("c1", "calculator", {"expression": "2+3"}, "ok", "5"),
        ("c2", "no_such_tool", {}, "error", None),
    ]
    assert "unknown tool" in rows[1]["error"] and rows[0]["duration_s"] >= 0
    turn = reopened.turns(session.conversation_id)[0]
    assert turn.status == "ok" and turn.assistant_text == "5" and turn.stats["tool_calls"] == 2


def test_importing_vt_tui_does_not_import_langchain() -> None:
    code = (
        "import sys, vt_tui.core.session, vt_tui.core.agent, vt_tui.core.agent.text_protocol, vt_tui.cli;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', 'langgraph',"
        " 'langchain_openai', 'textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
