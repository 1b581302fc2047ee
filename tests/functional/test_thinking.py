"""Reasoning models' thinking, in every form engines send it, through the real core against the scripted server:
split from the answer, timed and counted, stored, never sent back, and the thinking setting sent per engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui.core.agent import AgentConfig, ToolRegistry
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import ReasoningDelta, ReasoningFinished, TextDelta, ToolCallStarted, TurnFinished
from vt_tui.core.params import GenerationParams
from vt_tui.core.profiles import Thinking
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store
from vt_tui.tools.calculator import calculator

THOUGHT = "The user says hi. I should greet them back, briefly."
ANSWER = "Hello! How can I help?"
INLINE = f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}"


def pieces(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def reply_in(form: str, **kw: Any) -> Reply:
    """The thought and the answer the way one family of engines streams them."""
    if form == "inline":  # llama.cpp without a reasoning format, LLaMA-Factory, transformers serve
        chunks = [{"content": piece} for piece in pieces(INLINE)]
    else:  # reasoning_content: DeepSeek, llama.cpp, SGLang; reasoning: vLLM >= 0.10, Ollama's /v1
        chunks = [{form: piece} for piece in pieces(f"\n{THOUGHT}\n")]
        chunks += [{"content": piece} for piece in pieces(ANSWER)]
    return Reply(chunks=chunks, **kw)


FORMS = ["inline", "reasoning_content", "reasoning"]


async def run(session: ChatSession, text: str = "hi") -> list:
    return [event async for event in session.run_turn(text)]


def said(events: list, kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


@pytest.mark.parametrize("form", FORMS)
async def test_every_form_is_thinking_then_answer_stored_and_never_sent_back(
    scripted: ScriptedServer, tmp_path: Path, form: str
) -> None:
    store = Store(tmp_path / "c.sqlite3")
    endpoint = Endpoint(scripted.base_url, engine="openai")
    session = ChatSession(endpoint, store=store)
    scripted.queue(reply_in(form), text_reply("Second answer."))
    events = await run(session)
    assert said(events, ReasoningDelta).strip() == THOUGHT and said(events, TextDelta) == ANSWER
    kinds = [type(e).__name__ for e in events]
    first_text = kinds.index("TextDelta")
    assert kinds[first_text - 1] == "ReasoningFinished" and kinds.count("ReasoningFinished") == 1
    done = events[-1]
    assert isinstance(done, TurnFinished) and done.text == ANSWER
    assert done.stats.thinking_s is not None and 0 < done.stats.thinking_s <= done.stats.duration_s
    assert done.stats.thinking_tokens and done.stats.thinking_tokens_source == "counted"
    (stored,) = Store(tmp_path / "c.sqlite3").turns(session.conversation_id)
    assert stored.assistant_text == ANSWER and stored.thinking.strip() == THOUGHT
    assert stored.stats["thinking_tokens"] == done.stats.thinking_tokens

    await run(session, "and again")
    second = scripted.chat_requests[1]
    assert THOUGHT not in json.dumps(second) and "think>" not in json.dumps(second)
    assert second["messages"][1] == {"role": "assistant", "content": ANSWER}
    await endpoint.aclose()
    store.close()


async def test_inline_tags_cut_at_every_position_over_http(scripted: ScriptedServer) -> None:
    endpoint = Endpoint(scripted.base_url, engine="openai")
    content = "<think>ab</think>\n\nA <think>c</think>"  # the tag later in the answer is answer text
    for cut in range(len(content) + 1):
        for at in (cut, max(cut - 3, 0)):  # two cuts: a tag split over three chunks too
            parts = [content[:at], content[at:cut], content[cut:]]
            scripted.queue(Reply(chunks=[{"content": part} for part in parts if part]))
            events = await run(ChatSession(endpoint))
            assert (said(events, ReasoningDelta), said(events, TextDelta)) == ("ab", "A <think>c</think>"), parts
            assert events[-1].text == "A <think>c</think>"
    await endpoint.aclose()


async def test_a_thought_cut_off_by_max_tokens_is_thinking_and_no_answer(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    store = Store(tmp_path / "c.sqlite3")
    endpoint = Endpoint(scripted.base_url, engine="openai")
    session = ChatSession(endpoint, store=store)
    scripted.queue(Reply(chunks=[{"content": p} for p in pieces("<think>Let me count the r's: s-t-r-a-w </thi")],
                         finish_reason="length"))  # fmt: skip
    events = await run(session)
    assert said(events, TextDelta) == ""
    assert said(events, ReasoningDelta) == "Let me count the r's: s-t-r-a-w </thi"
    done = events[-1]
    assert isinstance(done, TurnFinished) and done.text == "" and done.stats.finish_reason == "length"
    assert isinstance(events[-2], ReasoningFinished)
    (stored,) = store.turns(session.conversation_id)
    assert stored.assistant_text == "" and stored.thinking.startswith("Let me count")
    await endpoint.aclose()
    store.close()


async def test_a_literal_tag_in_the_answer_stays_in_the_answer(scripted: ScriptedServer) -> None:
    answer = "Wrap it like this:\n\n```xml\n<think>\nsecret\n</think>\n```\n"
    scripted.queue(Reply(chunks=[{"content": p} for p in pieces(answer, 3)]))
    endpoint = Endpoint(scripted.base_url, engine="openai")
    events = await run(ChatSession(endpoint))
    assert said(events, ReasoningDelta) == "" and said(events, TextDelta) == answer
    assert not [e for e in events if isinstance(e, ReasoningFinished)]
    assert events[-1].stats.thinking_s is None and events[-1].stats.thinking_tokens is None
    await endpoint.aclose()


async def test_the_servers_reasoning_token_count_is_preferred(scripted: ScriptedServer) -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 60, "completion_tokens_details": {"reasoning_tokens": 48}}
    scripted.queue(reply_in("reasoning", usage=usage))
    endpoint = Endpoint(scripted.base_url, engine="vllm")
    done = (await run(ChatSession(endpoint)))[-1]
    assert done.stats.tokens == 60 and done.stats.thinking_tokens == 48
    assert done.stats.thinking_tokens_source == "server"
    await endpoint.aclose()


def agent_session(server: ScriptedServer, mode: str) -> ChatSession:
    registry = ToolRegistry(builtins=False, plugins=None, tools=[calculator])
    endpoint = Endpoint(server.base_url, engine="openai")
    return ChatSession(endpoint, agent=AgentConfig(mode=mode, max_steps=4, registry=registry))


@pytest.mark.parametrize("mode", ["native", "text"])
async def test_agent_turns_split_thinking_too_and_never_run_a_tool_block_inside_it(
    scripted: ScriptedServer, mode: str
) -> None:
    """A tool block the model only thought about is not a call; thinking is not sent back between steps."""
    block = '```tool\n{"name": "calculator", "arguments": {"expression": "6*7"}}\n```'
    first = f"<think>Maybe I call it:\n{block}\nNo: I know this.</think>\n\n42, without a tool."
    scripted.queue(Reply(chunks=[{"content": p} for p in pieces(first, 7)]), text_reply("again"))
    session = agent_session(scripted, mode)
    events = await run(session)
    assert not [e for e in events if isinstance(e, ToolCallStarted)]
    assert said(events, TextDelta) == "42, without a tool." and "Maybe I call it" in said(events, ReasoningDelta)
    await run(session, "more")
    assert "Maybe I call it" not in json.dumps(scripted.chat_requests[-1])


async def test_agent_thinking_between_tool_steps_is_shown_and_not_sent_back(scripted: ScriptedServer) -> None:
    from tests.support.scripted_server import tool_call_reply

    step = tool_call_reply([("c1", "calculator", '{"expression": "6*7"}')])
    step.chunks[:0] = [{"content": "<think>I need the calcul"}, {"content": "ator.</think>"}]
    answer = Reply(chunks=[{"reasoning_content": "It said 42."}, {"content": "It is 42."}])
    scripted.queue(step, answer)
    events = await run(agent_session(scripted, "native"))
    assert said(events, ReasoningDelta) == "I need the calculator.It said 42."
    assert said(events, TextDelta) == "It is 42."
    kinds = [type(e).__name__ for e in events if not isinstance(e, ReasoningDelta)]
    assert kinds.index("ReasoningFinished") < kinds.index("ToolCallStarted")
    finished = [e for e in events if isinstance(e, ReasoningFinished)]
    assert len(finished) == 2 and finished[1].duration_s >= finished[0].duration_s  # added up over the turn
    assert "I need" not in json.dumps(scripted.chat_requests[1]["messages"])


@pytest.mark.parametrize(
    ("engine", "level", "sent"),
    [
        ("vllm", "off", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("sglang", "off", {"chat_template_kwargs": {"enable_thinking": False}}),
        ("vllm", "high", {"reasoning_effort": "high", "chat_template_kwargs": {"enable_thinking": True}}),
        ("ollama", "off", {"reasoning_effort": "none"}),
        ("ollama", "low", {"reasoning_effort": "low"}),
        ("lmdeploy", "off", {"enable_thinking": False}),
        ("llama-factory", "off", {}),
        ("vllm", "auto", {}),
    ],
)
async def test_the_thinking_setting_is_sent_the_way_each_engine_takes_it(
    scripted: ScriptedServer, engine: str, level: str, sent: dict[str, Any]
) -> None:
    endpoint = Endpoint(scripted.base_url, engine=engine)
    session = ChatSession(endpoint, params=GenerationParams(thinking=Thinking(level)))
    scripted.queue(text_reply("ok"))
    await run(session)
    body = scripted.chat_requests[-1]
    extra = {k: body[k] for k in ("chat_template_kwargs", "reasoning_effort", "enable_thinking") if k in body}
    assert extra == sent and "thinking" not in body
    await endpoint.aclose()


def ask(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vt_tui", "ask", "--tools", "off", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize("form", FORMS)
def test_ask_prints_the_answer_only_and_the_thinking_on_stderr_when_asked(scripted: ScriptedServer, form: str) -> None:
    scripted.queue(reply_in(form), reply_in(form), reply_in(form))
    plain = ask("--base-url", scripted.base_url, "hi")
    assert plain.returncode == 0 and plain.stdout == ANSWER + "\n" and THOUGHT not in plain.stderr
    shown = ask("--base-url", scripted.base_url, "--show-thinking", "hi")
    assert shown.returncode == 0 and shown.stdout == ANSWER + "\n"
    assert shown.stderr.strip() == THOUGHT and "\x1b" not in shown.stderr  # not a terminal: no dim codes
    events = [json.loads(line) for line in ask("--base-url", scripted.base_url, "--json", "hi").stdout.splitlines()]
    assert "".join(e["text"] for e in events if e["type"] == "ReasoningDelta").strip() == THOUGHT
    assert "".join(e["text"] for e in events if e["type"] == "TextDelta") == ANSWER
    assert [e["type"] for e in events].count("ReasoningFinished") == 1
    assert events[-1]["stats"]["thinking_tokens"] > 0


def test_ask_says_so_when_the_model_only_thought(scripted: ScriptedServer) -> None:
    scripted.queue(Reply(chunks=[{"content": "<think>Hmm, let me see"}], finish_reason="length"))
    result = ask("--base-url", scripted.base_url, "hi")
    assert result.returncode == 1 and result.stdout == ""
    assert "no answer" in result.stderr and "max_tokens" in result.stderr and result.stderr.count("\n") == 1


def test_thinking_flag_reaches_the_request(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("ok"))
    result = ask("--base-url", scripted.base_url, "--engine", "vllm", "--thinking", "off", "hi")
    assert result.returncode == 0, result.stderr
    assert scripted.chat_requests[-1]["chat_template_kwargs"] == {"enable_thinking": False}
