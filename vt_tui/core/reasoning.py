"""A reasoning model's thinking, told apart from its answer, whichever way the engine sends it.

Engines send thinking in a field of the delta (``reasoning_content``: DeepSeek, llama.cpp with a reasoning format,
SGLang, LMDeploy; ``reasoning``: vLLM 0.10 and later, Ollama's ``/v1``: :func:`vt_tui.core.endpoint.parse_chunk`
reads both) or inline, as a ``<think>…</think>`` block at the start of ``content`` (llama.cpp without a reasoning
format, LLaMA-Factory, transformers serve, any server without a reasoning parser). :class:`ThinkSplitter` turns
the inline form into the field form, one reply at a time, as it streams: a tag may be cut anywhere between two
chunks; only a block that opens the reply is thinking (a ``<think>`` later in the answer, in a code block say, is
answer text); a block the reply never closes (cut by ``max_tokens``) is all thinking, and the answer is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vt_tui.core.events import TurnStats

OPEN = "<think>"
CLOSE = "</think>"

_START = 0  # nothing but whitespace yet: a think block may still open
_THINKING = 1  # inside the leading block
_AFTER = 2  # the block closed: whitespace before the answer is dropped
_ANSWER = 3  # the rest passes through unchanged


class ThinkSplitter:
    """Splits one reply's ``content`` stream into thinking and answer. ``feed`` each piece as it arrives, then
    ``finish`` once: together they return every character, each once, in order (less the tags and the whitespace
    between the block and the answer). Once the answer has started, ``passing`` is True and ``feed`` returns its
    input as it is: the hot path of a long answer costs one attribute read per chunk."""

    __slots__ = ("_held", "_state")

    def __init__(self) -> None:
        self._state = _START
        self._held = ""  # text that may be the start of a tag (or, at the start, only whitespace)

    @property
    def passing(self) -> bool:
        return self._state == _ANSWER

    def feed(self, text: str) -> tuple[str, str]:
        """The (thinking, answer) parts of the next piece of ``content``."""
        state = self._state
        if state == _ANSWER:
            return "", text
        text, self._held = self._held + text, ""
        if state == _START:
            start = text.lstrip()
            if not start or (len(start) < len(OPEN) and OPEN.startswith(start)):
                self._held = text  # whitespace, or the start of "<think>": wait for more
                return "", ""
            if not start.startswith(OPEN):
                self._state = _ANSWER
                return "", text
            self._state = _THINKING
            text = start[len(OPEN) :]
        if self._state == _THINKING:
            end = text.find(CLOSE)
            if end < 0:
                keep = _tag_start(text, CLOSE)
                if keep:
                    text, self._held = text[:-keep], text[-keep:]
                return text, ""
            self._state = _AFTER
            return text[:end], self._answer(text[end + len(CLOSE) :])
        return "", self._answer(text)

    def _answer(self, text: str) -> str:
        answer = text.lstrip()
        if answer:
            self._state = _ANSWER
        return answer

    def finish(self) -> tuple[str, str]:
        """What is still held at the end of the reply, as (thinking, answer)."""
        held, self._held = self._held, ""
        if self._state == _THINKING:
            return held, ""
        return "", held if self._state == _START else ""


def _tag_start(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that begins ``tag`` (0 when none does)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def split_reply(content: str) -> tuple[str, str]:
    """A whole (non-streamed) reply's (thinking, answer)."""
    splitter = ThinkSplitter()
    thinking, answer = splitter.feed(content)
    rest_thinking, rest_answer = splitter.finish()
    return thinking + rest_thinking, answer + rest_answer


def server_reasoning_tokens(usage: dict[str, Any] | None) -> int | None:
    """The thinking tokens a server counted (OpenAI's ``completion_tokens_details.reasoning_tokens``), if any."""
    details = (usage or {}).get("completion_tokens_details") or {}
    tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return tokens if isinstance(tokens, int) and tokens > 0 else None


def no_answer(answer: str, thinking: str, finish_reason: str | None) -> str | None:
    """Words for a reply that thought but never answered (its think block cut off), or None when it answered."""
    if answer.strip() or not thinking.strip():
        return None
    why = "it reached max_tokens: allow more, or less thinking" if finish_reason == "length" else "it stopped there"
    return f"no answer: the reply ended while the model was still thinking ({why})"


def thought_line(seconds: float | None, tokens: int | None, counted: bool = True) -> str:
    """'Thought for 3.2 s · 812 tokens' ('~812' when counted here, not by the server)."""
    parts = [f"Thought for {seconds:.1f} s" if seconds is not None else "Thought"]
    if tokens:
        parts.append(f"{'~' if counted else ''}{tokens:,} tokens")
    return " · ".join(parts)


def stats_thought_line(stats: TurnStats | Mapping[str, Any] | None) -> str:
    """:func:`thought_line` for a turn's figures: its TurnStats, or the dict the store keeps (None: a turn cut
    before it finished)."""
    stats = asdict(stats) if is_dataclass(stats) else stats or {}
    counted = stats.get("thinking_tokens_source") != "server"
    return thought_line(stats.get("thinking_s"), stats.get("thinking_tokens"), counted)
