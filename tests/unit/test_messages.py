"""Role rules: the message list shaped for engines that need strict alternation (LLaMA-Factory), logged."""

from __future__ import annotations

import logging

import pytest

from vt_tui.core import messages
from vt_tui.core.profiles import GENERIC, LLAMA_CPP_PYTHON, LLAMA_FACTORY, VLLM


def u(text: str) -> dict:
    return {"role": "user", "content": text}


def a(text: str | None, **kw) -> dict:
    return {"role": "assistant", "content": text, **kw}


def s(text: str) -> dict:
    return {"role": "system", "content": text}


def accepted_by_llamafactory(messages: list[dict]) -> bool:
    """LLaMA-Factory 0.9.5 api/chat.py _process_request, as a predicate (plus its null-content 500s)."""
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not body or len(body) % 2 == 0:
        return False
    for i, m in enumerate(body):
        if i % 2 == 0 and m["role"] not in ("user", "tool"):
            return False
        if i % 2 == 1 and m["role"] not in ("assistant", "function"):
            return False
        if m.get("content") is None and not m.get("tool_calls"):
            return False
    return True


def test_valid_history_is_unchanged_and_nothing_logged(caplog: pytest.LogCaptureFixture) -> None:
    history = [s("Be brief."), u("one"), a("1"), u("two")]
    with caplog.at_level(logging.INFO, logger="vt_tui.core.messages"):
        assert messages.enforce_alternation(history) == history
    assert caplog.records == []


def test_consecutive_users_merge_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vt_tui.core.messages"):
        out = messages.enforce_alternation([u("first"), u("second"), a("x"), a("y"), u("third")])
    assert out == [u("first\n\nsecond"), a("x\n\ny"), u("third")]
    assert accepted_by_llamafactory(out)
    assert sum("consecutive user" in r.getMessage() for r in caplog.records) == 1
    assert sum("consecutive assistant" in r.getMessage() for r in caplog.records) == 1


def test_systems_merged_and_moved_first_developer_becomes_system(caplog: pytest.LogCaptureFixture) -> None:
    history = [u("hi"), s("Be brief."), {"role": "developer", "content": "Use French."}, a("ok"), u("go")]
    with caplog.at_level(logging.INFO, logger="vt_tui.core.messages"):
        out = messages.enforce_alternation(history)
    assert out[0] == s("Be brief.\n\nUse French.")
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert accepted_by_llamafactory(out)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "merged 2 system messages" in text and "developer" in text


def test_leading_assistant_folded_into_system_trailing_dropped() -> None:
    out = messages.enforce_alternation([s("Sys."), a("Hello! I am your guide."), u("hi"), a("partial")])
    assert out[0]["role"] == "system" and "Hello! I am your guide." in out[0]["content"]
    assert out[1:] == [u("hi")]
    assert accepted_by_llamafactory(out)


def test_null_contents_become_empty_strings_but_tool_calls_kept() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{}"}}
    out = messages.enforce_alternation(
        [{"role": "user", "content": None}, a(None, tool_calls=[call]), {"role": "tool", "content": "4"}]
    )
    assert out[0] == u("")
    assert out[1]["content"] is None and out[1]["tool_calls"] == [call]
    assert accepted_by_llamafactory(out)


def test_parallel_tool_results_and_a_user_after_a_tool_make_one_user_slot() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{}"}}
    history = [
        u("add"),
        a(None, tool_calls=[call]),
        {"role": "tool", "tool_call_id": "c1", "content": "4"},
        {"role": "tool", "tool_call_id": "c2", "content": "5"},
        u("and now?"),
    ]
    out = messages.enforce_alternation(history)
    assert [m["role"] for m in out] == ["user", "assistant", "user"]
    assert out[2]["content"].count("Tool result:") == 1 and "4\n\n5" in out[2]["content"]
    assert out[2]["content"].endswith("and now?")
    assert accepted_by_llamafactory(out)


def test_multimodal_parts_survive_a_merge() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    out = messages.enforce_alternation(
        [u("look"), {"role": "user", "content": [{"type": "text", "text": "this"}, image]}]
    )
    assert len(out) == 1 and isinstance(out[0]["content"], list)
    assert image in out[0]["content"] and messages.text_of(out[0]["content"]) == "look\n\nthis"


def test_only_a_system_prompt_is_sent_as_the_user_message() -> None:
    assert messages.enforce_alternation([s("Say hi.")]) == [u("Say hi.")]


@pytest.mark.parametrize(
    "history",
    [
        [u("a"), u("b"), u("c")],
        [a("x"), s("s"), u("a"), {"role": "tool", "content": "t"}, a("y"), a("z")],
        [s("one"), s("two"), a("lead"), u("q"), a(None), u(None)],
        [{"role": "developer", "content": "d"}, u("q"), a("r"), u("q2"), a("r2"), u("q3")],
    ],
)
def test_always_accepted_and_idempotent(history: list[dict], caplog: pytest.LogCaptureFixture) -> None:
    once = messages.enforce_alternation(history)
    assert accepted_by_llamafactory(once)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vt_tui.core.messages"):
        assert messages.enforce_alternation(once) == once
    assert caplog.records == [], "a second pass must find nothing to change"


def test_input_is_not_mutated() -> None:
    history = [u("a"), u("b")]
    messages.enforce_alternation(history)
    assert history == [u("a"), u("b")]


def test_build_shapes_only_for_strict_engines() -> None:
    history = [u("a"), u("b")]
    assert messages.build("sys", history, VLLM) == [s("sys"), u("a"), u("b")]
    assert messages.build("sys", history, GENERIC) == [s("sys"), u("a"), u("b")]
    assert messages.build("sys", history, LLAMA_FACTORY) == [s("sys"), u("a\n\nb")]


def test_llama_cpp_python_gets_string_contents_next_to_tool_calls() -> None:
    """Its request model refuses (500) an assistant message with content null, which LangChain sends with
    tool_calls; found by tests/e2e/test_embedded_tool_call.py."""
    call = {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": "{}"}}
    sent = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": None, "tool_calls": [call]}]
    assert messages.shape(sent, LLAMA_CPP_PYTHON)[1] == {"role": "assistant", "content": "", "tool_calls": [call]}
    assert messages.shape(sent, VLLM) is sent and sent[1]["content"] is None
