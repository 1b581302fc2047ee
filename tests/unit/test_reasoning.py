"""The think-block splitter, fed the way streams cut text: at every position, and one character at a time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vt_tui.core import messages
from vt_tui.core.profiles import LLAMA_FACTORY, OLLAMA, VLLM, Thinking, ThinkingReplay
from vt_tui.core.reasoning import (
    ThinkSplitter,
    no_answer,
    server_reasoning_tokens,
    split_reply,
    stats_thought_line,
    thought_line,
)

# (content as the engine streams it, thinking, answer)
CASES = [
    ("<think>\nThe user greets me.\n</think>\n\nHello!", "\nThe user greets me.\n", "Hello!"),
    ("\n  <think>a < b </thin k></think>Answer", "a < b </thin k>", "Answer"),
    ("<think></think>\n\nNo thought.", "", "No thought."),
    ("<think>cut off by max_tokens, never clo", "cut off by max_tokens, never clo", ""),
    ("<think>ends on half a tag </thi", "ends on half a tag </thi", ""),
    ("Plain answer, no thinking.", "", "Plain answer, no thinking."),
    ("<thinking> is not the tag", "", "<thinking> is not the tag"),
    ("<thi", "", "<thi"),
    ("   ", "", "   "),
    # A tag later in the answer (a code block about tags) is answer text, even right after the block.
    ("```html\n<think>x</think>\n```", "", "```html\n<think>x</think>\n```"),
    ("<think>t</think>Use `<think>` like this: <think>y</think>", "t", "Use `<think>` like this: <think>y</think>"),
]


def run(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    thinking, answer = [], []
    for piece in pieces:
        t, a = splitter.feed(piece)
        thinking.append(t)
        answer.append(a)
    t, a = splitter.finish()
    return "".join(thinking) + t, "".join(answer) + a


@pytest.mark.parametrize(("content", "thinking", "answer"), CASES)
def test_every_cut_gives_the_same_split(content: str, thinking: str, answer: str) -> None:
    assert run([content]) == (thinking, answer)
    assert run(list(content)) == (thinking, answer)  # one character per chunk
    for i in range(len(content) + 1):  # the tags split at every position
        assert run([content[:i], content[i:]]) == (thinking, answer), i
        for j in range(i, len(content) + 1, 3):
            assert run([content[:i], content[i:j], content[j:]]) == (thinking, answer), (i, j)
    assert split_reply(content) == (thinking, answer)


def test_the_answer_passes_through_untouched_once_it_started() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<think>x</think>") == ("x", "")
    assert not splitter.passing  # whitespace before the answer is still dropped
    assert splitter.feed("\n\n") == ("", "")
    assert splitter.feed("A") == ("", "A") and splitter.passing
    assert splitter.feed("  <think>  ") == ("", "  <think>  ")
    assert splitter.finish() == ("", "")


def test_server_counts_and_the_lines_said() -> None:
    assert server_reasoning_tokens({"completion_tokens_details": {"reasoning_tokens": 812}}) == 812
    assert server_reasoning_tokens({"completion_tokens": 5}) is None and server_reasoning_tokens(None) is None
    assert server_reasoning_tokens({"completion_tokens_details": {"reasoning_tokens": 0}}) is None
    assert thought_line(3.24, 812, counted=False) == "Thought for 3.2 s · 812 tokens"
    assert thought_line(0.5, 1200) == "Thought for 0.5 s · ~1,200 tokens"
    assert stats_thought_line(None) == "Thought"
    stats = {"thinking_s": 2.0, "thinking_tokens": 9, "thinking_tokens_source": "server"}
    assert stats_thought_line(stats) == "Thought for 2.0 s · 9 tokens"
    assert no_answer("Hi", "thought", "stop") is None and no_answer("", "", "stop") is None
    said = no_answer(" ", "thought", "length")
    assert said is not None and "still thinking" in said and "max_tokens" in said


def test_thinking_goes_back_only_where_the_profile_says_its_template_reads_it() -> None:
    assert messages.assistant_turn("A", "T", VLLM) == {"role": "assistant", "content": "A"}
    inline = replace(LLAMA_FACTORY, replay_thinking=ThinkingReplay.INLINE)
    assert messages.assistant_turn("A", "T", inline) == {"role": "assistant", "content": "<think>T</think>\n\nA"}
    field = replace(VLLM, replay_thinking=ThinkingReplay.FIELD)
    assert messages.assistant_turn("A", "T", field) == {"role": "assistant", "content": "A", "reasoning_content": "T"}
    assert messages.assistant_turn("A", "", field) == {"role": "assistant", "content": "A"}


def test_each_engine_is_told_the_thinking_setting_its_own_way() -> None:
    assert VLLM.thinking.fields(Thinking.OFF) == {"chat_template_kwargs": {"enable_thinking": False}}
    assert VLLM.thinking.fields(Thinking.HIGH) == {
        "reasoning_effort": "high",
        "chat_template_kwargs": {"enable_thinking": True},
    }
    assert OLLAMA.thinking.fields(Thinking.OFF) == {"reasoning_effort": "none"}
    assert OLLAMA.thinking.fields(Thinking.AUTO) == {}
    assert LLAMA_FACTORY.thinking.fields(Thinking.OFF) is None
    assert "enable_thinking: false" in LLAMA_FACTORY.thinking.describe(Thinking.OFF)
    assert VLLM.thinking.describe(Thinking.OFF) == 'thinking off: sends chat_template_kwargs {"enable_thinking": false}'
    # the data is copied: a request cannot change a profile
    VLLM.thinking.fields(Thinking.OFF)["chat_template_kwargs"]["enable_thinking"] = True
    assert VLLM.thinking.fields(Thinking.OFF) == {"chat_template_kwargs": {"enable_thinking": False}}
