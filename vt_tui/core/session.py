"""A chat session: history, one turn at a time, as a stream of typed events.

The conversation is a tree (:mod:`vt_tui.core.tree`): ``turns`` is the branch on screen, and everything sent,
counted and compacted is that branch. A new prompt continues it; an edit or a regeneration starts a sibling of
the turn it replaces, sent with the branch up to that turn's parent, and the old branch stays, a flip away.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from vt_tui.core import messages, window
from vt_tui.core.attachments import Attachment, has_images, user_content
from vt_tui.core.context import ContextStrategy
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import EndpointError, ErrorKind, Overflow, cancelled, classify
from vt_tui.core.events import (
    CompactionFailed,
    ContextTrimmed,
    Event,
    GpuCost,
    ReasoningDelta,
    ReasoningFinished,
    StoreFailed,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolStatus,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    TurnStats,
)
from vt_tui.core.params import GenerationParams
from vt_tui.core.profiles import PROFILES, ToolMode
from vt_tui.core.reasoning import server_reasoning_tokens
from vt_tui.core.store import Compaction, CompactionStatus, Store, StoreError, Turn, TurnStatus, failure_words
from vt_tui.core.tree import Position, Tree
from vt_tui.core.window import Fitted, Relief, Usage, Window

if TYPE_CHECKING:
    from vt_tui.core.agent import AgentConfig
    from vt_tui.core.agent.runner import AgentRunner

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0  # a kill -9 mid-stream loses at most this much text
# (t0, t1) wall-clock seconds -> what the turn cost on the serving GPUs (vt_tui.gpu.attribution.GpuMeter)
GpuCostHook = Callable[[float, float], GpuCost | None]


class _Text(list):
    """Text pieces that arrived together (joined into one TextDelta)."""


class _Reasoning(list):
    """Reasoning pieces that arrived together (joined into one ReasoningDelta)."""


@dataclass
class _Pipe:
    """Hands output from the reading task to ``run_turn``, in order; text piles up while the consumer is busy.

    Thinking is timed here, as it arrives: from its first piece to the first piece of what follows it (answer
    text, a tool call, the end of the reply), added up over the turn's steps; each span's end is a
    ReasoningFinished in line with the rest.
    """

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    items: list[Any] = field(default_factory=list)  # _Text, _Reasoning, tool events and ReasoningFinished
    first_token_at: float | None = None
    chunks: int = 0
    thinking_chunks: int = 0
    thinking_s: float | None = None
    thinking_since: float | None = None  # thinking is arriving now (since this perf_counter time)
    usage: dict[str, Any] | None = None
    usage_complete: bool = True  # every step of an agent turn reported usage
    finish_reason: str | None = None
    steps: int | None = None
    tool_calls: int | None = None
    done: bool = False
    error: EndpointError | None = None

    def _put(self, kind: type[list], text: str) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.chunks += 1
        items = self.items
        if items and type(items[-1]) is kind:
            items[-1].append(text)
        else:
            items.append(kind((text,)))
        self.wake.set()

    def text(self, text: str) -> None:
        if self.thinking_since is not None:
            self.thought()
        self._put(_Text, text)

    def reasoning(self, text: str) -> None:
        if self.thinking_since is None:
            self.thinking_since = time.perf_counter()
        self.thinking_chunks += 1
        self._put(_Reasoning, text)

    def thought(self) -> None:
        """The thinking that was arriving has ended (before any answer, tool call or the end of the reply)."""
        if self.thinking_since is None:
            return
        self.thinking_s = (self.thinking_s or 0.0) + time.perf_counter() - self.thinking_since
        self.thinking_since = None
        self.items.append(ReasoningFinished(self.thinking_s, self.thinking_chunks))
        self.wake.set()

    def event(self, event: Event) -> None:
        self.thought()
        self.items.append(event)
        self.wake.set()

    def step_done(self, usage: dict[str, Any] | None, finish_reason: str | None) -> None:
        """An agent step ended: add up the server's token counts (used only if every step had them)."""
        self.finish_reason = finish_reason or self.finish_reason
        if not usage or not usage.get("completion_tokens"):
            self.usage_complete = False
            return
        total = dict(self.usage or {})
        total["completion_tokens"] = total.get("completion_tokens", 0) + usage["completion_tokens"]
        total["prompt_tokens"] = usage.get("prompt_tokens")  # the last request's: the context it carried
        if thinking := server_reasoning_tokens(usage):
            before = server_reasoning_tokens(total) or 0
            total["completion_tokens_details"] = {"reasoning_tokens": before + thinking}
        self.usage = total


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
        gpu_cost: GpuCostHook | None = None,
        agent: AgentConfig | None = None,
        persona: str | None = None,
        context_strategy: ContextStrategy = ContextStrategy.ASK,
    ) -> None:
        """``agent``: run turns with tools (see :mod:`vt_tui.core.agent`); None keeps every turn plain chat.
        ``context_strategy``: what a message that does not fit the window does (see :mod:`vt_tui.core.window`)."""
        self.endpoint = endpoint
        self.model = model
        self.system = system
        self.params = params or GenerationParams()
        self.store = store
        self.conversation_id = conversation_id
        self.gpu_cost = gpu_cost
        self.agent = agent
        self.persona = persona
        self._runner: AgentRunner | None = None
        self.tree: Tree[Turn] = store.tree(conversation_id) if store and conversation_id else Tree()
        self.turns: list[Turn] = []  # the branch on screen (set by _show)
        self.context = Window(endpoint, context_strategy)
        self._show(self.tree.branch())
        if store and conversation_id:
            self.context.compactions = store.compactions(conversation_id)
        self._reader: asyncio.Task[None] | None = None
        self._store_off = False  # a write failed in this turn: the rest of it stays in memory only
        self._store_failures: list[StoreFailed] = []  # to be yielded by run_turn

    def _save(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One store write. A failure (disk full, read-only, locked) becomes a StoreFailed event and the turn
        goes on in memory: nothing typed or received is lost, and the next turn tries the store again."""
        if self.store is None or self._store_off:
            return None
        try:
            return write(*args, **kwargs)
        except sqlite3.Error as exc:
            self._store_off = True
            log.warning("store write failed: %s", exc)
            words = failure_words(exc, self.store.path)
            self._store_failures.append(StoreFailed(f"Not saved: {words} — the conversation is kept in memory"))
            return None

    def _store_events(self) -> list[StoreFailed]:
        failures, self._store_failures = self._store_failures, []
        return failures

    @property
    def busy(self) -> bool:
        return (self._reader is not None and not self._reader.done()) or self.context.busy

    def history(self) -> list[dict[str, Any]]:
        """Earlier turns as messages: their text files always, their images only while the endpoint takes images;
        their thinking only when the engine's profile says its template reads it
        (:func:`vt_tui.core.messages.assistant_turn`)."""
        profile = self.endpoint.profile
        out: list[dict[str, Any]] = []
        for turn in self.turns:
            if turn.counts_as_history:
                out += [
                    {"role": "user", "content": user_content(turn.user_text, turn.attachments, images=profile.vision)},
                    messages.assistant_turn(turn.assistant_text, turn.thinking, profile),
                ]
        return out

    def request_for(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The request that sends ``message`` now: the system prompt (with the summary in force), the history."""
        return messages.build(self.context.system(self.system), [*self.history(), message], self.endpoint.profile)

    def context_usage(self) -> Usage:
        """What the next request carries before the new message, and the window (for the status bar)."""
        return self.context.usage(self.turns, self.history(), self.system)

    def clear_context(self) -> None:
        for turn in self.tree.nodes.values():  # every branch's, as in the store
            turn.in_context = False
        for compaction in self.context.compactions:
            if compaction.status == CompactionStatus.ACTIVE:
                compaction.status = CompactionStatus.CLEARED
        if self.store and self.conversation_id:
            self._save(self.store.clear_context, self.conversation_id)

    # the context window (vt_tui.core.window decides; these keep the turns and the store in step)
    def relief(self, overflow: Overflow) -> Relief:
        """What would make a message over the window fit: the oldest turns to drop, or the turns to compact."""
        return self.context.relief(self.turns, overflow)

    def drop_turns(self, turn_ids: tuple[int, ...]) -> ContextTrimmed:
        """Stop sending these turns (they stay in the conversation, marked out of context)."""
        dropped = {*turn_ids}
        for turn in self.turns:
            if turn.id in dropped:
                turn.in_context = False
        if self.store and self.conversation_id:
            self._save(self.store.set_in_context, turn_ids, False)
        self.context.forget()
        count = f"{len(turn_ids)} oldest turn{'s' if len(turn_ids) != 1 else ''}"
        return ContextTrimmed(turn_ids, f"{count} no longer sent, to fit the context window (kept on screen)")

    async def compact(self, turn_ids: tuple[int, ...] | None = None) -> AsyncIterator[Event]:
        """Have the model summarise ``turn_ids`` (default: every turn in context but the latest) into one block that
        stands for them in what is sent. Esc (``cancel``) stops it; nothing changes unless it finishes."""
        try:
            model = self.model = await self.endpoint.resolve_model(self.model)
        except EndpointError as exc:
            yield CompactionFailed(exc, "")
            return
        if turn_ids is None:
            sent = [t.id for t in self.turns if t.counts_as_history]
            turn_ids = tuple(sent[: -window.KEEP_RECENT_TURNS] or sent)
        async for event in window.compact(self, model, turn_ids):
            yield event

    def keep_compaction(self, compaction: Compaction) -> Compaction:
        """A finished summary: in force from now on (stored with its turns out of context, in one transaction)."""
        if self.store and self.conversation_id:
            compaction.id = self._save(self.store.add_compaction, self.conversation_id, compaction) or 0
        compaction.id = compaction.id or -len(self.context.compactions) - 1  # kept in memory only
        for earlier in self.context.compactions:
            if earlier.id == compaction.folds:
                earlier.status = CompactionStatus.FOLDED
        self.context.compactions.append(compaction)
        covered = set(compaction.turn_ids)
        for turn in self.turns:
            if turn.id in covered:
                turn.in_context = False
        self.context.forget()
        return compaction

    def undo_compaction(self) -> Compaction | None:
        """Take back the compaction in force: its turns are sent again (and the summary it folded in, if any)."""
        compaction = self.context.compaction()
        if compaction is None:
            return None
        compaction.status = CompactionStatus.UNDONE
        for earlier in self.context.compactions:
            if earlier.id == compaction.folds:
                earlier.status = CompactionStatus.ACTIVE
        covered = set(compaction.turn_ids)
        for turn in self.turns:
            if turn.id in covered:
                turn.in_context = True
        if self.store and self.conversation_id and compaction.id > 0:
            self._save(self.store.undo_compaction, compaction)
        self.context.forget()
        return compaction

    def tool_calls_by_turn(self) -> dict[int, list[dict[str, Any]]]:
        """The stored tool calls of this conversation, by turn (what a compaction's summary may mention)."""
        calls: dict[int, list[dict[str, Any]]] = {}
        if self.store and self.conversation_id:
            for call in self.store.tool_calls(self.conversation_id):
                calls.setdefault(call["turn_id"], []).append(call)
        return calls

    # the tree of turns
    def _show(self, turns: list[Turn]) -> None:
        """Make ``turns`` the branch that is sent and counted."""
        self.turns = turns
        self.context.branch = frozenset(t.id for t in turns)

    def position(self, turn_id: int) -> Position:
        """Where a turn on the branch stands among its versions ("2/3")."""
        return self.tree.position(turn_id)

    def positions(self) -> dict[int, Position]:
        """The positions of the branch's turns that have other versions."""
        return self.tree.positions(self.turns)

    def flip(self, turn_id: int, step: int) -> int | None:
        """Show the version of ``turn_id`` ``step`` away (-1 the one before, +1 the one after) and, under it, the
        branch last added to; remembered in the store. The version shown now, or None when there is none that way."""
        shown = self.tree.flip(turn_id, step)
        if shown is None:
            return None
        self._show(self.tree.branch())
        if self.store and self.conversation_id:
            self._save(self.store.set_current_turn, self.conversation_id, self.tree.leaf())
        return shown

    def edit_and_resend(
        self, turn_id: int, text: str, attachments: Sequence[Attachment] | None = None
    ) -> AsyncIterator[Event]:
        """Send ``text`` in place of turn ``turn_id``'s prompt (with its attachments, unless ``attachments`` are
        given): a new version of that turn, after the same history; the old one is kept, with the branch after it."""
        attached = self.tree.nodes[turn_id].attachments if attachments is None else attachments
        return self.run_turn(text, attached, sibling_of=turn_id)

    def regenerate(self, turn_id: int) -> AsyncIterator[Event]:
        """Ask again for turn ``turn_id``'s reply: its prompt and attachments sent again, the earlier reply kept."""
        return self.edit_and_resend(turn_id, self.tree.nodes[turn_id].user_text)

    def fork(self, turn_id: int) -> int:
        """Copy the branch up to ``turn_id`` into a new stored conversation; its id (:meth:`Store.fork`)."""
        if self.store is None or self.conversation_id is None:
            raise StoreError("Not forked: this conversation is not stored", "send a prompt first")
        try:
            return self.store.fork(self.conversation_id, turn_id)
        except sqlite3.Error as exc:
            raise StoreError(f"Not forked: {failure_words(exc, self.store.path)}") from exc

    def tool_mode(self) -> ToolMode:
        """How the next turn calls tools: native, text or off (plain streaming, no LangChain)."""
        if self.agent is None:
            return ToolMode.OFF
        return self.agent.plan(self.endpoint.profile).mode

    def cancel(self) -> None:
        """Stop the running turn (a request, a tool, an approval prompt, a summary), keeping the partial text."""
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        self.context.cancel()

    def refuses_images(self) -> bool:
        """True when the endpoint's profile says it takes no image parts (``--engine`` of a vision one forces it)."""
        return not self.endpoint.profile.vision

    def _start_turn(self, user_text: str, model: str, attachments: list[Attachment]) -> Turn:
        params = self.params.as_request()
        parent_id = self.turns[-1].id if self.turns else None
        # Without a store, ids count up; a turn the store could not take has a negative one (no stored id has),
        # and a later turn that is stored follows, in the store, the last turn before it that was.
        known = self.tree.nodes
        turn_id = max(known, default=0) + 1 if self.store is None else min([0, *known]) - 1
        stored_parent = next((t.id for t in reversed(self.turns) if t.id > 0), None)
        self._store_off = False
        if self.store:
            if self.conversation_id is None:
                self.conversation_id = self._save(
                    self.store.create_conversation,
                    model=model,
                    endpoint=self.endpoint.label,
                    system=self.system,
                    persona=self.persona,
                )
            if self.conversation_id is not None:
                stored = self._save(self.store.add_turn, self.conversation_id, user_text, model, params, stored_parent)
                turn_id = stored or turn_id
            if attachments:
                self._save(self.store.add_attachments, turn_id, attachments)
        turn = Turn(
            id=turn_id,
            user_text=user_text,
            model=model,
            params=params,
            created=time.time(),
            attachments=attachments,
            parent_id=parent_id,
        )
        self.tree.add(turn)
        self._show([*self.turns, turn])
        return turn

    def _finish(
        self, turn: Turn, text: str, status: TurnStatus, stats: TurnStats | None, error: str | None, thinking: str
    ) -> None:
        turn.assistant_text, turn.status, turn.error, turn.thinking = text, status, error, thinking
        turn.stats = asdict(stats) if stats else None
        if self.store:
            self._save(self.store.finish_turn, turn.id, text, status, turn.stats, error, thinking=thinking)

    async def run_turn(
        self, user_text: str, attachments: Sequence[Attachment] = (), *, sibling_of: int | None = None
    ) -> AsyncIterator[Event]:
        """Send ``user_text`` (and attachments: images, text files) and yield events until TurnFinished or TurnFailed
        (always one of the two).

        The turn continues the branch on screen; with ``sibling_of`` it is another version of that turn instead
        (:meth:`edit_and_resend`), sent with the branch up to that turn's parent. Until the turn starts (TurnStarted)
        that shorter branch is the one sent and counted; a turn that never starts leaves the branch as it was.

        Images to an endpoint without vision fail at once (nothing is sent or stored): check ``refuses_images``.

        With an agent config and tools, tool events come in between: ToolCallStarted, then ToolCallFinished.
        """
        shown = self.turns
        if sibling_of is not None:
            self._show(self.tree.path(self.tree.parent(sibling_of)))
        turn: Turn | None = None
        try:
            try:
                model = self.model = await self.endpoint.resolve_model(self.model)
            except EndpointError as exc:
                yield TurnFailed(exc, "")
                return
            attached = list(attachments)
            if has_images(attached) and self.refuses_images():
                yield TurnFailed(no_vision(self.endpoint.profile.title), "")
                return
            fitted: Fitted | None = None
            new_message = {"role": "user", "content": user_content(user_text, attached)}
            async for item in window.prepare(self, model, new_message, self.params.as_request()):
                if isinstance(item, Fitted):
                    fitted = item
                else:
                    yield item  # turns dropped, a compaction, or a TurnFailed: over the window, nothing sent
            if fitted is None:
                return
            request, params = fitted.messages, fitted.params
            mode = self.tool_mode()  # after resolve_model: listing the models may have picked the profile
            turn = self._start_turn(user_text, model, attached)
        finally:
            if turn is None:
                self._show(shown)
        yield TurnStarted(turn.id, model, self.endpoint.label)
        for failure in self._store_events():
            yield failure

        pipe = _Pipe()
        started = time.perf_counter()
        wall_started = time.time()
        plain = mode is ToolMode.OFF
        reader = (
            self._read(model, request, pipe, params) if plain else self._read_agent(model, mode, request, pipe, params)
        )
        self._reader = asyncio.create_task(reader)
        parts: list[str] = []
        thoughts: list[str] = []
        open_calls: set[str] = set()
        last_flush = started
        outcome: Event | None = None
        try:
            while True:
                await pipe.wake.wait()
                pipe.wake.clear()
                finished = pipe.done or pipe.error is not None  # read first: nothing is added after either
                items, pipe.items = pipe.items, []
                for item in items:
                    kind = type(item)
                    if kind is _Text or kind is _Reasoning:
                        chunk = "".join(item)
                        (parts if kind is _Text else thoughts).append(chunk)
                        now = time.perf_counter()
                        if self.store and now - last_flush >= FLUSH_INTERVAL_S:
                            self._save(self.store.save_text, turn.id, "".join(parts), "".join(thoughts))
                            last_flush = now
                        yield TextDelta(chunk) if kind is _Text else ReasoningDelta(chunk)
                    else:
                        self._record_tool_event(turn, item, open_calls)
                        yield item
                if self._store_failures:
                    for failure in self._store_events():
                        yield failure
                if finished:
                    break
            stats = self._stats(pipe, started, wall_started)
            text, thinking = "".join(parts), "".join(thoughts)
            # Cut for length before any answer, thinking or tool call: the prompt filled the window. (A reply that
            # thought until max_tokens ran out did not stop at once: that is no overflow.)
            nothing_came = not (text.strip() or thinking.strip() or open_calls)
            if pipe.error is None and pipe.finish_reason == "length" and nothing_came:
                pipe.error = self.context.stopped_at_once(model, fitted.count, self.turns)
            elif pipe.error is not None and pipe.error.kind is ErrorKind.CONTEXT_OVERFLOW:
                pipe.error = self.context.explain(pipe.error, model, fitted.count, self.turns)
            if pipe.error:
                was_cancelled = pipe.error.kind is ErrorKind.CANCELLED
                status = TurnStatus.CANCELLED if was_cancelled else TurnStatus.FAILED
                self._finish(turn, text, status, stats, str(pipe.error), thinking)
                outcome = TurnFailed(pipe.error, text, cancelled=was_cancelled, stats=stats)
            else:
                self._finish(turn, text, TurnStatus.OK, stats, None, thinking)
                outcome = TurnFinished(text, stats)
                usage = (pipe.usage if plain else None) or {}
                cut = self.context.turn_done(self.turns, request, fitted.count, usage, stats.thinking_tokens or 0)
                if cut is not None:
                    yield cut
            for failure in self._store_events():
                yield failure
            yield outcome
        finally:
            if outcome is None:  # the consumer stopped listening (closed or cancelled the iterator)
                self.cancel()
                self._finish(turn, "".join(parts), TurnStatus.CANCELLED, None, str(cancelled()), "".join(thoughts))
            if open_calls and self.store:
                for call_id in open_calls:
                    self._save(
                        self.store.finish_tool_call, turn.id, call_id, ToolStatus.CANCELLED, None, "cancelled", 0.0
                    )

    def _record_tool_event(self, turn: Turn, event: Event, open_calls: set[str]) -> None:
        if isinstance(event, ToolCallStarted):
            open_calls.add(event.call_id)
            if self.store:
                self._save(self.store.add_tool_call, turn.id, event.call_id, event.name, event.args)
        elif isinstance(event, ToolCallFinished):
            open_calls.discard(event.call_id)
            if self.store:
                self._save(
                    self.store.finish_tool_call,
                    turn.id,
                    event.call_id,
                    event.status,
                    event.result,
                    event.error,
                    event.duration_s,
                )

    async def _agent_runner(self) -> AgentRunner:
        if self._runner is None:
            assert self.agent is not None
            module = await asyncio.to_thread(importlib.import_module, "vt_tui.core.agent.runner")
            self._runner = module.AgentRunner(self.endpoint, self.agent)
        return self._runner

    async def _read_agent(
        self, model: str, mode: ToolMode, request: list[dict[str, Any]], pipe: _Pipe, params: dict[str, Any]
    ) -> None:
        """The agent path; the plain one when no tool is offered. LangChain is imported here, off the loop."""
        assert self.agent is not None
        try:
            await self.agent.registry.aload()
            if not self.agent.offered():
                await self._read(model, request, pipe, params)
                return
            runner = await self._agent_runner()
            result = await runner.run(model=model, mode=mode, messages=request, params=params, sink=pipe)
            pipe.steps, pipe.tool_calls = result.steps, result.tool_calls
            pipe.finish_reason = result.finish_reason or pipe.finish_reason
            pipe.done = True
        except asyncio.CancelledError:
            pipe.error = cancelled()
        except Exception as exc:
            error = classify(exc, self.endpoint.base_url, model)
            if error.kind is ErrorKind.OTHER:
                log.warning("agent turn failed", exc_info=True)
            pipe.error = error
        finally:
            pipe.thought()
            pipe.wake.set()

    async def _read(self, model: str, request: list[dict[str, Any]], pipe: _Pipe, params: dict[str, Any]) -> None:
        try:
            async for chunk in self.endpoint.stream_chat(model, request, params):
                if chunk.reasoning:
                    pipe.reasoning(chunk.reasoning)
                if chunk.content:
                    pipe.text(chunk.content)
                pipe.usage = chunk.usage or pipe.usage
                pipe.finish_reason = chunk.finish_reason or pipe.finish_reason
            pipe.done = True
        except asyncio.CancelledError:
            pipe.error = cancelled()
        except Exception as exc:
            pipe.error = classify(exc, self.endpoint.base_url, model)
        finally:
            pipe.thought()
            pipe.wake.set()

    def _stats(self, pipe: _Pipe, started: float, wall_started: float) -> TurnStats:
        ended = time.perf_counter()
        usage = pipe.usage or {}
        from_server = bool(usage.get("completion_tokens")) and pipe.usage_complete
        cost = self.gpu_cost(wall_started, time.time()) if self.gpu_cost is not None else None
        thinking_tokens = server_reasoning_tokens(usage) if from_server else None
        thinking_source = "server" if thinking_tokens else "counted" if pipe.thinking_chunks else None
        return TurnStats(
            ttft_s=pipe.first_token_at - started if pipe.first_token_at else None,
            duration_s=ended - started,
            tokens=usage["completion_tokens"] if from_server else pipe.chunks,
            tokens_source="server" if from_server else "counted",
            prompt_tokens=usage.get("prompt_tokens"),
            finish_reason=pipe.finish_reason,
            energy_j=cost.energy_j if cost else None,
            peak_vram_bytes=cost.peak_vram_bytes if cost else None,
            steps=pipe.steps,
            tool_calls=pipe.tool_calls,
            gpus=cost.gpus if cost else None,
            gpus_chosen_by=cost.chosen_by if cost else None,
            thinking_s=pipe.thinking_s,
            thinking_tokens=thinking_tokens or pipe.thinking_chunks or None,
            thinking_tokens_source=thinking_source,
        )


def no_vision(engine: str) -> EndpointError:
    """Images for an endpoint whose profile has no vision: said before anything is sent."""
    engines = ", ".join(name for name, p in PROFILES.items() if p.vision)
    return EndpointError(
        ErrorKind.BAD_REQUEST,
        f"Not sent: {engine} takes no images (profile without vision)",
        f"if it does, start with --engine {{{engines}}} to force it",
    )
