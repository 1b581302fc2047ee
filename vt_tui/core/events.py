"""Typed events a turn yields. The TUI, ``vt-tui ask`` and the store all consume these and nothing else."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from vt_tui.core.errors import EndpointError


@dataclass(frozen=True, slots=True)
class TurnStarted:
    turn_id: int | None
    model: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Thinking, whichever way the engine sent it (a field of its own, or a ``<think>`` block leading the reply)."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningFinished:
    """The model stopped thinking: its answer or a tool call started, or the reply ended. ``duration_s`` and
    ``tokens`` add up the turn's thinking so far (tokens as counted here: one per streamed piece; the server's
    count, when it gives one, comes with TurnFinished)."""

    duration_s: float
    tokens: int


class ToolStatus(StrEnum):
    """How a tool call ended: ok; error (bad arguments, unknown tool, the tool failed or timed out); denied (by the
    user or, headless, for want of an approver); cancelled (the turn was cancelled while the tool ran). RUNNING is
    the store's, while the tool runs: a ToolCallFinished never carries it."""

    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    DENIED = "denied"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model asked for a tool. ``step`` is the 1-based model request (agent step) that asked for it."""

    call_id: str
    name: str
    args: dict[str, Any]
    step: int = 0
    risky: bool = False  # the call needs the user's approval (unless already allowed)


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call ended (see :class:`ToolStatus`)."""

    call_id: str
    name: str
    result: str | None
    error: str | None
    duration_s: float
    status: ToolStatus = ToolStatus.OK


@dataclass(frozen=True, slots=True)
class GpuCost:
    """What a turn cost on the GPUs serving the model: ``gpus`` says which were counted ("GPU 0", "GPUs 0,1",
    "all GPUs" when the server could not be found), ``chosen_by`` how they were found."""

    energy_j: float | None
    peak_vram_bytes: int | None
    gpus: str
    chosen_by: str


@dataclass(frozen=True, slots=True)
class TurnStats:
    """Figures for one finished (or failed) turn."""

    ttft_s: float | None
    duration_s: float
    tokens: int
    tokens_source: Literal["server", "counted"]
    prompt_tokens: int | None = None
    finish_reason: str | None = None
    energy_j: float | None = None
    peak_vram_bytes: int | None = None
    steps: int | None = None  # agent turns: model requests made
    tool_calls: int | None = None  # agent turns: tool calls made
    gpus: str | None = None  # the GPUs energy_j and peak_vram_bytes were counted on (GpuCost.gpus)
    gpus_chosen_by: str | None = None
    thinking_s: float | None = None  # time the model spent thinking (None: it did not)
    thinking_tokens: int | None = None  # part of ``tokens``
    thinking_tokens_source: Literal["server", "counted"] | None = None

    @property
    def tok_per_s(self) -> float | None:
        """Generation rate after the first token (the decode rate a user feels)."""
        gen = self.duration_s - (self.ttft_s or 0.0)
        return self.tokens / gen if self.tokens > 1 and gen > 0 else None

    @property
    def joules_per_token(self) -> float | None:
        return self.energy_j / self.tokens if self.energy_j is not None and self.tokens else None


@dataclass(frozen=True, slots=True)
class TurnFinished:
    text: str
    stats: TurnStats


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The turn stopped early. ``partial_text`` is kept; ``cancelled`` tells a user's Esc from a fault."""

    error: EndpointError
    partial_text: str
    cancelled: bool = False
    stats: TurnStats | None = field(default=None)


@dataclass(frozen=True, slots=True)
class StoreFailed:
    """Writing the conversation to disk failed (once per turn at most): the turn goes on, kept in memory, and the
    next turn tries the store again. ``message`` is one line for the user."""

    message: str


@dataclass(frozen=True, slots=True)
class ContextTrimmed:
    """Turns taken out of what is sent to fit the window (the ``truncate`` strategy, or the user's choice). They
    stay in the conversation, marked out of context. ``message`` is one line for the user."""

    turn_ids: tuple[int, ...]
    message: str


@dataclass(frozen=True, slots=True)
class ContextTruncated:
    """The server cut the prompt without saying so (Ollama trims to its num_ctx): the reply did not see all of
    it. Said after the turn from the server's own ``prompt_tokens``; ``message`` is one line for the user."""

    prompt_tokens: int
    sent_tokens: int  # what vt-tui counted for the request
    message: str


@dataclass(frozen=True, slots=True)
class CompactionStarted:
    """The model is summarising ``turn_ids`` (and the summary it wrote before, if any) into one block."""

    turn_ids: tuple[int, ...]
    tokens_before: int  # about what they take in the window now


@dataclass(frozen=True, slots=True)
class SummaryDelta:
    """Streamed text of a compaction's summary."""

    text: str


@dataclass(frozen=True, slots=True)
class CompactionFinished:
    """The summary replaces the turns in what is sent; ``compaction_id`` undoes it (``ChatSession.undo_compaction``)."""

    compaction_id: int
    turn_ids: tuple[int, ...]
    summary: str
    tokens_before: int
    tokens_after: int


@dataclass(frozen=True, slots=True)
class CompactionFailed:
    """Summarising failed or was cancelled: nothing changed in what is sent. ``partial_text`` is what had come."""

    error: EndpointError
    partial_text: str
    cancelled: bool = False


Event = (
    TurnStarted
    | TextDelta
    | ReasoningDelta
    | ReasoningFinished
    | ToolCallStarted
    | ToolCallFinished
    | TurnFinished
    | TurnFailed
    | StoreFailed
    | ContextTrimmed
    | ContextTruncated
    | CompactionStarted
    | SummaryDelta
    | CompactionFinished
    | CompactionFailed
)


def event_to_json(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key, for ``vt-tui ask --json``."""
    data = asdict(event)
    if isinstance(event, TurnFailed | CompactionFailed):
        data["error"] = event.error.to_dict()
    stats = getattr(event, "stats", None)
    if stats is not None:
        data["stats"].update(tok_per_s=stats.tok_per_s, joules_per_token=stats.joules_per_token)
    return {"type": type(event).__name__, **data}
