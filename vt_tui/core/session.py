"""A chat session: history, one turn at a time, as a stream of typed events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from vt_tui.core import messages as msgs
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import EndpointError, cancelled, classify
from vt_tui.core.events import (
    Event,
    ReasoningDelta,
    TextDelta,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    TurnStats,
)
from vt_tui.core.store import Store, Turn

FLUSH_INTERVAL_S = 1.0  # a kill -9 mid-stream loses at most this much text
# (t0, t1) wall-clock seconds -> (joules, peak VRAM bytes) over that window
GpuCost = Callable[[float, float], tuple[float | None, int | None]]


@dataclass
class GenerationParams:
    """What a user can tune per conversation. ``max_tokens`` is always sent (engine defaults vary)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int = 1024
    stop: list[str] | None = None
    seed: int | None = None

    def as_request(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class _Pipe:
    """Hands chunks from the reading task to ``run_turn``; text piles up while the consumer is busy."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    chunks: int = 0
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    done: bool = False
    error: EndpointError | None = None


class ChatSession:
    """Runs turns against one endpoint and keeps the conversation (in memory, and in the store if given)."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        model: str | None = None,
        system: str | None = None,
        params: GenerationParams | None = None,
        store: Store | None = None,
        conversation_id: int | None = None,
        gpu_cost: GpuCost | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.system = system
        self.params = params or GenerationParams()
        self.store = store
        self.conversation_id = conversation_id
        self.gpu_cost = gpu_cost
        self.turns: list[Turn] = store.turns(conversation_id) if store and conversation_id else []
        self._reader: asyncio.Task[None] | None = None
        self._cancel_requested = False

    @property
    def busy(self) -> bool:
        return self._reader is not None and not self._reader.done()

    def history(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for turn in self.turns:
            if turn.counts_as_history:
                out += [
                    {"role": "user", "content": turn.user_text},
                    {"role": "assistant", "content": turn.assistant_text},
                ]
        return out

    def context_chars(self) -> int:
        """Characters the next request will carry; ~4 per token for an estimate."""
        return len(self.system or "") + sum(len(m["content"]) for m in self.history())

    def clear_context(self) -> None:
        for turn in self.turns:
            turn.in_context = False
        if self.store and self.conversation_id:
            self.store.clear_context(self.conversation_id)

    def cancel(self) -> None:
        """Stop the running turn: the HTTP response is closed at once, the partial text kept."""
        self._cancel_requested = True
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()

    def _start_turn(self, user_text: str, model: str) -> Turn:
        params = self.params.as_request()
        turn_id = len(self.turns) + 1
        if self.store:
            if self.conversation_id is None:
                self.conversation_id = self.store.create_conversation(
                    model=model, endpoint=self.endpoint.label, system=self.system
                )
            turn_id = self.store.add_turn(self.conversation_id, user_text, model, params)
        turn = Turn(id=turn_id, user_text=user_text, model=model, params=params, created=time.time())
        self.turns.append(turn)
        return turn

    def _finish(self, turn: Turn, text: str, status: str, stats: TurnStats | None, error: str | None) -> None:
        turn.assistant_text, turn.status, turn.error = text, status, error
        turn.stats = asdict(stats) if stats else None
        if self.store:
            self.store.finish_turn(turn.id, text, status, turn.stats, error)

    async def run_turn(self, user_text: str) -> AsyncIterator[Event]:
        """Send ``user_text`` and yield events until TurnFinished or TurnFailed (always one of the two)."""
        self._cancel_requested = False
        try:
            model = self.model = await self.endpoint.resolve_model(self.model)
        except EndpointError as exc:
            yield TurnFailed(exc, "")
            return
        request = msgs.build(
            self.system, [*self.history(), {"role": "user", "content": user_text}], self.endpoint.profile
        )
        turn = self._start_turn(user_text, model)
        yield TurnStarted(turn.id, model, self.endpoint.label)

        pipe = _Pipe()
        started = time.perf_counter()
        wall_started = time.time()
        self._reader = asyncio.create_task(self._read(model, request, pipe))
        parts: list[str] = []
        last_flush = started
        outcome: Event | None = None
        try:
            while True:
                await pipe.wake.wait()
                pipe.wake.clear()
                if pipe.reasoning:
                    chunk, pipe.reasoning = "".join(pipe.reasoning), []
                    yield ReasoningDelta(chunk)
                if pipe.text:
                    chunk, pipe.text = "".join(pipe.text), []
                    parts.append(chunk)
                    now = time.perf_counter()
                    if self.store and now - last_flush >= FLUSH_INTERVAL_S:
                        self.store.save_text(turn.id, "".join(parts))
                        last_flush = now
                    yield TextDelta(chunk)
                if pipe.done or pipe.error:
                    break
            stats = self._stats(pipe, started, wall_started)
            text = "".join(parts)
            if pipe.error:
                status = "cancelled" if pipe.error.kind.value == "cancelled" else "failed"
                self._finish(turn, text, status, stats, str(pipe.error))
                outcome = TurnFailed(pipe.error, text, cancelled=status == "cancelled", stats=stats)
            else:
                self._finish(turn, text, "ok", stats, None)
                outcome = TurnFinished(text, stats)
            yield outcome
        finally:
            if outcome is None:  # the consumer stopped listening (closed or cancelled the iterator)
                self.cancel()
                self._finish(turn, "".join(parts), "cancelled", None, str(cancelled()))

    async def _read(self, model: str, request: list[dict[str, Any]], pipe: _Pipe) -> None:
        try:
            async for chunk in self.endpoint.stream_chat(model, request, self.params.as_request()):
                if chunk.content or chunk.reasoning:
                    if pipe.first_token_at is None:
                        pipe.first_token_at = time.perf_counter()
                    pipe.chunks += 1
                    if chunk.content:
                        pipe.text.append(chunk.content)
                    if chunk.reasoning:
                        pipe.reasoning.append(chunk.reasoning)
                    pipe.wake.set()
                pipe.usage = chunk.usage or pipe.usage
                pipe.finish_reason = chunk.finish_reason or pipe.finish_reason
            pipe.done = True
        except asyncio.CancelledError:
            pipe.error = cancelled()
        except Exception as exc:
            pipe.error = classify(exc, self.endpoint.base_url, model)
        finally:
            pipe.wake.set()

    def _stats(self, pipe: _Pipe, started: float, wall_started: float) -> TurnStats:
        ended = time.perf_counter()
        usage = pipe.usage or {}
        from_server = bool(usage.get("completion_tokens"))
        energy = peak = None
        if self.gpu_cost is not None:
            energy, peak = self.gpu_cost(wall_started, time.time())
        return TurnStats(
            ttft_s=pipe.first_token_at - started if pipe.first_token_at else None,
            duration_s=ended - started,
            tokens=usage["completion_tokens"] if from_server else pipe.chunks,
            tokens_source="server" if from_server else "counted",
            prompt_tokens=usage.get("prompt_tokens"),
            finish_reason=pipe.finish_reason,
            energy_j=energy,
            peak_vram_bytes=peak,
        )
