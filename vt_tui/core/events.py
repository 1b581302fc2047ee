"""Typed events a turn yields. The TUI, ``vt-tui ask`` and the store all consume these and nothing else."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    call_id: str
    name: str
    args: dict[str, Any]
    step: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    call_id: str
    name: str
    result: str | None
    error: str | None
    duration_s: float
    status: Literal["ok", "error", "denied"] = "ok"


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


Event = TurnStarted | TextDelta | ReasoningDelta | ToolCallStarted | ToolCallFinished | TurnFinished | TurnFailed


def event_to_json(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key, for ``vt-tui ask --json``."""
    data = asdict(event)
    if isinstance(event, TurnFailed):
        data["error"] = event.error.to_dict()
    stats = getattr(event, "stats", None)
    if stats is not None:
        data["stats"].update(tok_per_s=stats.tok_per_s, joules_per_token=stats.joules_per_token)
    return {"type": type(event).__name__, **data}
