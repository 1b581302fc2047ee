"""Counting what a request carries, fitting every request into the window, and compacting long conversations.

**Counting** starts from the server's own figures: the last turn's ``prompt_tokens`` plus the tokens of its reply,
then the new message. What is not counted by the server is estimated (characters per token, calibrated on this
conversation's earlier requests) and, when the estimate comes near the limit, counted with the server's tokenizer
(:attr:`EngineProfile.tokenize`: ``/tokenize`` on vLLM, SGLang and llama-server, ``/extras/tokenize/count`` on
llama-cpp-python) in one request bounded by :data:`TOKENIZE_TIMEOUT_S`. Far from the limit nothing is asked: the
request goes out as before. A count says how much of it is estimated and how far off that part may be.

**Fitting**: ``max_tokens`` is capped to what is left, so it is never why a server refuses; a request that leaves
no room for :data:`MIN_REPLY_TOKENS` is not sent, and :func:`prepare` says by how much it is over. The
conversation's :class:`~vt_tui.core.context.ContextStrategy` decides what happens then: ask the user, drop the
oldest turns, or compact. **Compacting** asks the model for a summary of the earlier turns; the summary goes into
the system prompt in their place, the turns stay in the conversation marked out of context, and it can be undone.

**The limit** is asked once per model (:func:`probe_limit`: the listing, then the routes the profile lists), read
by :mod:`vt_tui.core.context`'s readers; a setting, or what vt-tui started, wins. The session calls
:func:`prepare` once per turn.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from vt_tui.core.attachments import user_content
from vt_tui.core.context import (
    SIDE_ROUTES_OFF,
    ContextLimit,
    ContextStrategy,
    listing_context,
    positive,
    props_context,
    ps_context,
    show_context,
    slot_context,
)
from vt_tui.core.errors import (
    ALONE_HINT,
    OVERFLOW_HINT,
    EndpointError,
    ErrorKind,
    Overflow,
    cancelled,
    classify,
    context_overflow,
)
from vt_tui.core.events import (
    CompactionFailed,
    CompactionFinished,
    CompactionStarted,
    ContextTruncated,
    Event,
    SummaryDelta,
    TurnFailed,
)
from vt_tui.core.messages import text_of
from vt_tui.core.profiles import Thinking, ThinkingReplay
from vt_tui.core.reasoning import server_reasoning_tokens
from vt_tui.core.store import Compaction, CompactionStatus

if TYPE_CHECKING:
    from vt_tui.core.endpoint import Endpoint
    from vt_tui.core.session import ChatSession
    from vt_tui.core.store import Turn

log = logging.getLogger(__name__)

# The estimate: ASCII characters over CHARS_PER_TOKEN, and a token for each other character. Measured with
# SmolLM2-135M's tokenizer (llama-cpp-python's /extras/tokenize/count): English prose 4.7 characters a token,
# Python 3.5, this README 3.3, French 3.1, Markdown docs 2.9, shell 2.7, JSON 2.1, Chinese 0.7 (1.45 tokens a
# character). 3.2 is off by -34 % (JSON) to +46 % (prose): ESTIMATE_MARGIN covers the usual text, and the
# conversation's own figures recalibrate it after each turn. Near the limit the tokenizer counts instead.
CHARS_PER_TOKEN = 3.2
ESTIMATE_MARGIN = 0.35
TEMPLATE_TOKENS = 8  # a message's role markers in the chat template (ChatML: 5, Llama 3: 5), not in a text count
IMAGE_TOKENS = 1024  # an image's share of the window: from 64 to several thousand, by model
MIN_REPLY_TOKENS = 64  # a request that leaves less room than this for the reply is not sent
TOKENIZE_TIMEOUT_S = 2.0
SUMMARY_TOKENS = 512  # the most a compaction's summary may take (a quarter of a small window at most)
TOOL_RESULT_CHARS = 300  # a tool result in the text to summarise is cut to this first, before any message is
KEEP_RECENT_TURNS = 1  # compacting keeps the latest exchange as it is, when that is enough
SUMMARY_PROMPT = (
    "Summarise the conversation below so that the summary can replace it. Keep facts, names, numbers, decisions, "
    "code identifiers and open questions; leave out greetings. Write at most {words} words, as plain sentences, and "
    "nothing but the summary.\n\n{transcript}"
)
SUMMARY_INTRO = "Summary of the earlier conversation (it replaces those turns):"
OLLAMA_DEFAULT = "Ollama's default num_ctx (4,096, or more by VRAM on newer versions; OLLAMA_CONTEXT_LENGTH)"


# asking the server ---------------------------------------------------------------------------------------


async def _answer(endpoint: Endpoint, route: str, model: str) -> tuple[int, Any]:
    url = endpoint.root_url + route
    if route == "/api/show":
        return await endpoint.post_json(url, {"model": model})
    return await endpoint.fetch(url)


def _read_route(route: str, body: Any, model: str) -> ContextLimit | None:
    """The limit in one route's answer, None when it does not say."""
    if route == "/props" and isinstance(body, Mapping):
        n = props_context(body)
        return ContextLimit(n, "n_ctx in llama-server's /props") if n else None
    if route == "/slots" and isinstance(body, list):
        sizes = [n for slot in body if isinstance(slot, Mapping) and (n := slot_context(slot))]
        return ContextLimit(min(sizes), "n_ctx of llama-server's slots (/slots)") if sizes else None
    if route == "/api/ps" and isinstance(body, Mapping):
        entries = [e for e in body.get("models") or () if isinstance(e, Mapping)]
        for entry in entries:
            if model in (entry.get("name"), entry.get("model")) and (n := ps_context(entry)):
                return ContextLimit(n, f"the num_ctx Ollama runs {model} with (/api/ps)")
        return None
    if route == "/api/show" and isinstance(body, Mapping):
        num_ctx, trained = show_context(body)
        if num_ctx:
            return ContextLimit(num_ctx, f"num_ctx in {model}'s Modelfile (/api/show); asked again once loaded", False)
        trained_note = f"; trained for {trained:,}" if trained else ""
        log.info("Ollama: %s sets no num_ctx (%s%s); known once loaded", model, OLLAMA_DEFAULT, trained_note)
    return None


async def probe_limit(endpoint: Endpoint, model: str) -> ContextLimit | None:
    """What the server says its window is for ``model``: the listing first, then the profile's routes (a GET each,
    short timeouts). None when it does not say (LMDeploy, LLaMA-Factory, OpenAI): the ``context_window`` setting
    is then the only way to know."""
    listed = listing_context(endpoint.listing, model)
    if listed:
        return ContextLimit(listed, f"max_model_len of {model} in /v1/models")
    for route in endpoint.profile.context_routes:
        try:
            status, body = await _answer(endpoint, route, model)
        except EndpointError as exc:
            log.info("context window: %s did not answer (%s)", route, exc.message)
            continue
        found = _read_route(route, body, model) if status == 200 else None
        if found is not None:
            return found
    return None


# counting -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """Tokens a request carries; ``estimated`` of them are an estimate, off by up to ``margin``."""

    tokens: int
    estimated: int = 0

    @property
    def margin(self) -> int:
        return math.ceil(self.estimated * ESTIMATE_MARGIN)

    @property
    def high(self) -> int:
        return self.tokens + self.margin

    def describe(self) -> str:
        if not self.estimated:
            return f"{self.tokens:,} tokens (counted)"
        return f"about {self.tokens:,} tokens (±{self.margin:,}: {self.estimated:,} of them estimated)"


@dataclass(frozen=True)
class Usage:
    """What the status bar shows: the tokens the next request carries before the new message, and the window."""

    tokens: int
    limit: int | None
    exact: bool


@dataclass(frozen=True)
class Fitted:
    """A request ready to send: its messages and parameters (``max_tokens`` capped to what is left)."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    count: Count
    limit: ContextLimit | None


@dataclass(frozen=True)
class Relief:
    """What would make an overflowing message fit: the oldest turns to drop, or the turns to compact (empty: that
    is not enough, the message alone is too long)."""

    overflow: Overflow
    drop: tuple[int, ...]
    compact: tuple[int, ...]


@dataclass(frozen=True)
class _Anchor:
    """The server's count of the history after a turn: its prompt and its reply, for one set of turns sent."""

    key: tuple[Any, ...]
    tokens: int


def _split(text: str) -> tuple[int, int]:
    """(ASCII characters, other characters) of ``text``."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return ascii_chars, len(text) - ascii_chars


def _images(message: Mapping[str, Any]) -> int:
    content = message.get("content")
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, Mapping) and p.get("type") == "image_url")


class Window:
    """One conversation's view of its model's window: the limit, the server's last count, the calibration, the
    compaction in force, and a summary being written (cancelled with the turn)."""

    def __init__(self, endpoint: Endpoint, strategy: ContextStrategy = ContextStrategy.ASK) -> None:
        self.endpoint = endpoint
        self.strategy = ContextStrategy(strategy)
        self.compactions: list[Compaction] = []
        # The turns of the branch on screen (None: every turn): a summary of turns off it is not in force on it.
        self.branch: frozenset[int] | None = None
        self.chars_per_token = CHARS_PER_TOKEN
        self._anchor: _Anchor | None = None
        self._task: asyncio.Task[None] | None = None

    # the limit
    @property
    def limit(self) -> ContextLimit | None:
        """The limit as last known (for the model last asked about); :meth:`know` asks the server."""
        return self.endpoint.context_window or self.endpoint.context_limits.get(self.endpoint.context_model or "")

    async def know(self, model: str) -> ContextLimit | None:
        """The window for ``model``: the setting or what vt-tui started, else the server's word (asked once per
        model and endpoint, again after a turn while it is not settled)."""
        endpoint = self.endpoint
        endpoint.context_model = model
        if endpoint.context_window is not None:
            return endpoint.context_window
        known = endpoint.context_limits.get(model)
        if model not in endpoint.context_limits or (known is not None and not known.settled):
            endpoint.context_limits[model] = known = await probe_limit(endpoint, model) or known
        return known

    def explain(self, error: EndpointError, model: str, sent: Count | None, turns: Sequence[Turn]) -> EndpointError:
        """A server's overflow, said with what vt-tui knows: the window it stated is kept (a setting still wins),
        a size or limit it left out is filled in from vt-tui's count and the known window, and the hint says
        what can help here."""
        overflow = error.overflow or Overflow(None, None)
        if overflow.limit and self.endpoint.context_window is None:
            self.endpoint.context_limits[model] = ContextLimit(overflow.limit, "the server's own overflow error")
        limit = overflow.limit or (self.limit.tokens if self.limit else None)
        size, margin = overflow.size, overflow.margin
        if size is None and sent is not None:
            size, margin = sent.tokens, sent.margin
        overflow = replace(overflow, size=size, limit=limit, margin=margin)
        relief = self.relief(turns, overflow)
        hint = OVERFLOW_HINT if relief.drop or relief.compact else ALONE_HINT
        return replace(context_overflow(overflow, hint), status=error.status, detail=error.detail)

    def stopped_at_once(self, model: str, sent: Count | None, turns: Sequence[Turn]) -> EndpointError:
        """A reply cut for length before its first token: the prompt filled the window (LMDeploy answers a prompt
        over its session_len so), said as any overflow."""
        error = self.explain(context_overflow(Overflow(None, None)), model, sent, turns)
        return replace(error, message=error.message + " (the server stopped before any text)")

    # counting
    def compaction(self) -> Compaction | None:
        """The compaction in force (at most one: a newer one folds the older in), if all its turns are on the branch
        on screen (an edit before them left them on another branch: what the summary says is not said on this one)."""
        branch = self.branch
        for compaction in reversed(self.compactions):
            if compaction.status == "active":
                return compaction if branch is None or branch.issuperset(compaction.turn_ids) else None
        return None

    def system(self, system: str | None) -> str | None:
        """The system prompt as sent: with the summary that stands for the compacted turns, if any."""
        compaction = self.compaction()
        if compaction is None:
            return system
        block = f"{SUMMARY_INTRO}\n{compaction.summary}"
        return f"{system}\n\n{block}" if system else block

    def key(self, turns: Sequence[Turn]) -> tuple[Any, ...]:
        """What the history sent is made of: the turns in context and the compaction in force."""
        compaction = self.compaction()
        return (tuple(t.id for t in turns if t.counts_as_history), compaction.id if compaction else None)

    def text_tokens(self, text: str) -> int:
        ascii_chars, other = _split(text)
        return round(ascii_chars / self.chars_per_token) + other

    def estimate(self, messages: Sequence[Mapping[str, Any]]) -> int:
        text = "".join(text_of(m.get("content")) for m in messages)
        return (
            self.text_tokens(text) + TEMPLATE_TOKENS * len(messages) + IMAGE_TOKENS * sum(_images(m) for m in messages)
        )

    def count(self, turns: Sequence[Turn], request: Sequence[Mapping[str, Any]]) -> Count:
        """The request's tokens: the server's count of the history plus the new message estimated, when the history
        is as it was at the last turn; else all of it estimated."""
        anchor = self._anchor
        if anchor is not None and anchor.key == self.key(turns) and request:
            new = self.estimate(request[-1:])
            return Count(anchor.tokens + new, new)
        total = self.estimate(request)
        return Count(total, total)

    def usage(self, turns: Sequence[Turn], history: Sequence[Mapping[str, Any]], system: str | None) -> Usage:
        """For the status bar: what the history (and system prompt) takes now, and the window."""
        limit = self.limit.tokens if self.limit else None
        anchor = self._anchor
        if anchor is not None and anchor.key == self.key(turns):
            return Usage(anchor.tokens, limit, True)
        sent = ([{"role": "system", "content": self.system(system)}] if self.system(system) else []) + list(history)
        return Usage(self.estimate(sent), limit, False) if sent else Usage(0, limit, True)

    async def tokenize(self, model: str, text: str) -> int | None:
        """``text`` counted by the server's tokenizer (None: it has none, it failed, or it took too long)."""
        endpoint = self.endpoint
        route = endpoint.profile.tokenize
        if route is None or endpoint.tokenizer_off or not text:
            return None if text else 0
        path, field = route
        started = time.perf_counter()
        try:
            status, body = await endpoint.post_json(
                endpoint.root_url + path, {"model": model, field: text}, TOKENIZE_TIMEOUT_S
            )
        except EndpointError as exc:
            log.info("tokenize: no answer from %s (%s): estimating", path, exc.message)
            return None
        if status in SIDE_ROUTES_OFF:
            endpoint.tokenizer_off = True  # not asked again on this endpoint
            log.info("tokenize: %s answered %s: estimating from now on", path, status)
            return None
        if status != 200 or not isinstance(body, Mapping):
            return None
        tokens = body.get("tokens")
        counted = positive(body.get("count")) or (len(tokens) if isinstance(tokens, list) else None)
        if counted:
            self._calibrate(text, counted)
        log.debug("tokenize: %s tokens in %.1f ms", counted, (time.perf_counter() - started) * 1000)
        return counted

    async def counted(self, model: str, turns: Sequence[Turn], request: Sequence[Mapping[str, Any]]) -> Count:
        """:meth:`count`, with the estimated part counted by the server's tokenizer where it has one."""
        rough = self.count(turns, request)
        if not rough.estimated:
            return rough
        anchored = rough.estimated < rough.tokens
        part = request[-1:] if anchored else request
        text = "\n".join(text_of(m.get("content")) for m in part)
        tokens = await self.tokenize(model, text)
        if tokens is None:
            return rough
        images = IMAGE_TOKENS * sum(_images(m) for m in part)
        exact = tokens + TEMPLATE_TOKENS * len(part)
        return Count(rough.tokens - rough.estimated + exact + images, images)

    def _calibrate(self, text: str, tokens: int) -> None:
        """Characters per token as this conversation's text goes (ASCII over the tokens the rest did not take)."""
        ascii_chars, other = _split(text)
        if ascii_chars >= 200 and tokens > other:
            self.chars_per_token = min(8.0, max(1.0, ascii_chars / (tokens - other)))

    # fitting
    async def fit(
        self, model: str, turns: Sequence[Turn], request: list[dict[str, Any]], params: dict[str, Any]
    ) -> Fitted | Overflow:
        """The request with ``max_tokens`` capped to what the window leaves, or by how much it is over.

        An estimate is refused only when even its low end leaves no room for a reply (never refuse what may fit:
        a server without a tokenizer then says, or Ollama's cut is seen afterwards), and ``max_tokens`` is capped
        by its high end (at least a :data:`MIN_REPLY_TOKENS` reply is asked for)."""
        limit = await self.know(model)
        rough = self.count(turns, request)
        wanted = int(params.get("max_tokens") or MIN_REPLY_TOKENS)
        if limit is None or rough.high + wanted <= limit.tokens:  # far from the wall: nothing to ask the server
            return Fitted(request, params, rough, limit)
        count = await self.counted(model, turns, request)
        if limit.tokens - (count.tokens - count.margin) < MIN_REPLY_TOKENS:
            return Overflow(count.tokens, limit.tokens, MIN_REPLY_TOKENS, count.margin)
        capped = min(wanted, max(MIN_REPLY_TOKENS, limit.tokens - count.high))
        if capped < wanted:
            log.info("max_tokens %d capped to %d: %s, window %d", wanted, capped, count.describe(), limit.tokens)
            params = {**params, "max_tokens": capped}
        return Fitted(request, params, count, limit)

    def turn_tokens(self, turn: Turn) -> int:
        """What ``turn`` takes in the window: its text files' blocks and images with its text."""
        user = user_content(turn.user_text, turn.attachments)
        return self.estimate([{"role": "user", "content": user}, {"role": "assistant", "content": turn.assistant_text}])

    def relief(self, turns: Sequence[Turn], overflow: Overflow) -> Relief:
        """Which oldest turns to drop, and which to compact, to take ``overflow.over_by`` tokens out (with the
        estimate's margin); half of them when the server did not say by how much."""
        sent = [t for t in turns if t.counts_as_history]
        costs = [self.turn_tokens(t) for t in sent]
        over = overflow.over_by
        need = math.ceil(over * (1 + ESTIMATE_MARGIN)) if over is not None else sum(costs) // 2 or 1
        drop: list[int] = []
        freed = 0
        for turn, cost in zip(sent, costs, strict=True):
            if freed >= need:
                break
            drop.append(turn.id)
            freed += cost
        compaction = self.compaction()
        summary = min(SUMMARY_TOKENS, (overflow.limit or 4 * SUMMARY_TOKENS) // 4)
        already = compaction.tokens_after if compaction else 0
        kept = sent[:-KEEP_RECENT_TURNS] if len(sent) > KEEP_RECENT_TURNS else sent
        compact: tuple[int, ...] = ()
        for candidates in (kept, sent):
            gain = sum(self.turn_tokens(t) for t in candidates) + already - summary
            if candidates and gain >= need:
                compact = tuple(t.id for t in candidates)
                break
        return Relief(overflow, tuple(drop) if freed >= need else (), compact)

    # after a turn
    def turn_done(
        self,
        turns: Sequence[Turn],
        request: Sequence[Mapping[str, Any]],
        sent: Count | None,
        usage: Mapping[str, Any],
        thinking_tokens: int = 0,
    ) -> ContextTruncated | None:
        """Keep the server's count of the history as it is now; calibrate the estimate on it; say so when the
        server read less than was sent (Ollama cuts a prompt over its num_ctx without a word).

        ``thinking_tokens``: the reply's thinking, part of its ``completion_tokens`` but not of the history unless
        the engine's template reads it back (:attr:`EngineProfile.replay_thinking`): a reasoning model's thousand
        thinking tokens a turn would otherwise fill the window on paper only."""
        prompt = positive(usage.get("prompt_tokens"))
        reply = usage.get("completion_tokens")
        if prompt is None or not isinstance(reply, int):
            self._anchor = None
            return None
        if thinking_tokens and self.endpoint.profile.replay_thinking is ThinkingReplay.NEVER:
            reply = max(0, reply - thinking_tokens)
        self._anchor = _Anchor(self.key(turns), prompt + reply)
        sent_text = "".join(text_of(m.get("content")) for m in request)
        self._calibrate(sent_text, prompt - TEMPLATE_TOKENS * len(request))
        if sent is None or not self.endpoint.profile.truncates_silently:
            return None
        if prompt >= (sent.tokens - sent.margin) * 0.9 - TEMPLATE_TOKENS:
            return None
        window = f" (its window: {self.limit.tokens:,})" if self.limit else ""
        return ContextTruncated(
            prompt,
            sent.tokens,
            f"{self.endpoint.profile.title} read {prompt:,} of the ~{sent.tokens:,} tokens sent{window}: it cut the "
            "start of the conversation without saying so — drop or compact earlier turns, or raise its num_ctx",
        )

    def forget(self) -> None:
        """The history changed in a way the server's last count does not cover."""
        self._anchor = None

    # compacting
    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def summary_request(
        self, turns: Sequence[Turn], tool_calls: Mapping[int, Sequence[Mapping[str, Any]]], budget: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The request that asks for the summary, fitted into ``budget`` tokens (tool results cut first, then the
        longest messages from the middle), and the summary's own ``max_tokens``."""
        summary = min(SUMMARY_TOKENS, max(MIN_REPLY_TOKENS, budget // 4))
        entries: list[list[str]] = []
        compaction = self.compaction()
        if compaction is not None:
            entries.append(["Earlier summary", compaction.summary])
        for turn in turns:
            entries.append(["User", text_of(user_content(turn.user_text, turn.attachments, images=False))])
            for call in tool_calls.get(turn.id, ()):
                entries.append([f"Tool {call.get('name')}", str(call.get("result") or call.get("error") or "")])
            entries.append(["Assistant", turn.assistant_text])

        def size() -> int:
            return sum(self.text_tokens(f"{who}: {text}\n\n") for who, text in entries)

        room = budget - summary - 2 * TEMPLATE_TOKENS - self.text_tokens(SUMMARY_PROMPT)
        for entry in entries:
            if size() <= room:
                break
            if entry[0].startswith("Tool ") and len(entry[1]) > TOOL_RESULT_CHARS:
                entry[1] = entry[1][:TOOL_RESULT_CHARS] + " […]"
        while size() > room:
            longest = max(entries, key=lambda e: len(e[1]))
            if len(longest[1]) < 80:
                break
            keep = max(40, len(longest[1]) - int((size() - room) * self.chars_per_token) - 10) // 2
            longest[1] = longest[1][:keep] + " […] " + longest[1][-keep:]
        transcript = "\n\n".join(f"{who}: {text}" for who, text in entries)
        prompt = SUMMARY_PROMPT.format(words=max(30, summary * 3 // 5), transcript=transcript)
        return [{"role": "user", "content": prompt}], summary

    async def stream_summary(
        self, model: str, request: list[dict[str, Any]], max_tokens: int, thinking: Thinking = Thinking.AUTO
    ) -> AsyncIterator[str | dict[str, Any]]:
        """The summary's text as it streams (a reasoning model's thinking left out), then its usage (a dict). Runs in
        a task :meth:`cancel` can stop. ``thinking``: the conversation's setting, sent as for its turns."""
        queue: asyncio.Queue[str | dict[str, Any] | BaseException] = asyncio.Queue()

        async def read() -> None:
            usage: dict[str, Any] = {}
            thought = 0  # pieces of thinking: a token each, for a server that does not count them
            try:
                params = {"max_tokens": max_tokens, "temperature": 0, "thinking": thinking}
                async for chunk in self.endpoint.stream_chat(model, request, params):
                    if chunk.content:
                        queue.put_nowait(chunk.content)
                    thought += bool(chunk.reasoning)
                    usage = chunk.usage or usage
                if thought and not server_reasoning_tokens(usage):
                    usage = {**usage, "completion_tokens_details": {"reasoning_tokens": thought}}
                queue.put_nowait(usage)
            except asyncio.CancelledError:
                queue.put_nowait(cancelled())
            except Exception as exc:
                queue.put_nowait(classify(exc, self.endpoint.base_url, model))

        self._task = asyncio.create_task(read())
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, dict):
                    return
        finally:
            self.cancel()


# the one call a turn makes -----------------------------------------------------------------------------------


async def prepare(
    session: ChatSession, model: str, message: dict[str, Any], params: dict[str, Any]
) -> AsyncIterator[Event | Fitted]:
    """Fit the request that sends ``message`` into the window, the conversation's strategy deciding what happens
    when it does not: the events of what was done (turns dropped, a compaction), then the :class:`Fitted` request
    to send — or a :class:`TurnFailed` saying by how much it is over (nothing sent, nothing stored)."""
    window = session.context
    compacted = False
    while True:  # each pass drops at least one turn, or compacts once: it ends
        request = session.request_for(message)
        fitted = await window.fit(model, session.turns, request, params)
        if isinstance(fitted, Fitted):
            yield fitted
            return
        relief = window.relief(session.turns, fitted)
        strategy = window.strategy
        if strategy is ContextStrategy.TRUNCATE and relief.drop:
            yield session.drop_turns(relief.drop)  # the per-turn estimate may fall short: then the next pass
        elif strategy is ContextStrategy.COMPACT and relief.compact and not compacted:
            compacted = True
            async for event in session.compact(relief.compact):
                yield event
                if isinstance(event, CompactionFailed):
                    yield TurnFailed(event.error, "", cancelled=event.cancelled)
                    return
        else:
            hint = OVERFLOW_HINT if relief.drop or relief.compact else ALONE_HINT
            yield TurnFailed(context_overflow(fitted, hint), "")
            return


async def compact(session: ChatSession, model: str, turn_ids: Sequence[int]) -> AsyncIterator[Event]:
    """Summarise ``turn_ids`` (and the summary in force) with the model, streaming; on success the summary stands
    for them in what is sent."""
    window = session.context
    turns = [t for t in session.turns if t.id in set(turn_ids)]
    if not turns:
        return
    before = sum(window.turn_tokens(t) for t in turns)
    folded = window.compaction()
    before += folded.tokens_after if folded else 0
    yield CompactionStarted(tuple(t.id for t in turns), before)
    limit = await window.know(model)
    calls = session.tool_calls_by_turn()
    request, max_tokens = window.summary_request(turns, calls, limit.tokens if limit else 4 * SUMMARY_TOKENS)
    parts: list[str] = []
    usage: dict[str, Any] = {}
    try:
        async for item in window.stream_summary(model, request, max_tokens, session.params.thinking):
            if isinstance(item, dict):
                usage = item
            else:
                parts.append(item)
                yield SummaryDelta(item)
    except EndpointError as exc:
        yield CompactionFailed(exc, "".join(parts), cancelled=exc.kind is ErrorKind.CANCELLED)
        return
    summary = "".join(parts).strip()
    if not summary:
        yield CompactionFailed(EndpointError(ErrorKind.MALFORMED, "The model wrote no summary: nothing compacted"), "")
        return
    written = (positive(usage.get("completion_tokens")) or 0) - (server_reasoning_tokens(usage) or 0)  # not thinking
    after = positive(written) or window.estimate([{"role": "system", "content": summary}])
    compaction = Compaction(
        id=0,
        turn_ids=tuple(t.id for t in turns),
        summary=summary,
        after_turn_id=session.turns[-1].id if session.turns else None,
        tokens_before=before,
        tokens_after=after,
        folds=folded.id if folded else None,
        status=CompactionStatus.ACTIVE,
        created=time.time(),
    )
    compaction = session.keep_compaction(compaction)
    yield CompactionFinished(compaction.id, compaction.turn_ids, summary, before, after)
