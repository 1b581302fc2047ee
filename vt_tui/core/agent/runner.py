"""The agent path of a turn: LangChain's ``create_agent`` over a chat model on vt-tui's own endpoint.

Importing this module imports LangChain (1–2 s): the session does it in a worker thread, on first use.

One :class:`AgentRunner` per session; it builds (and caches, per model and parameters) the agent. LangChain is used
through its public API only: the model is :class:`EndpointChatModel`, a ``BaseChatModel`` written the documented
way (``_agenerate``, ``_llm_type``, ``bind_tools``), and what vt-tui adds sits in one middleware whose
``awrap_model_call`` and ``awrap_tool_call`` hand each call to the turn. A turn has one object per job:

* step I/O, :class:`EndpointChatModel`: the step's request (LangChain's messages and tools in OpenAI's format, the
  conversation's parameters) through :class:`Endpoint` — the plain-chat reader, connection and errors — streamed
  unless the engine cannot stream the step (tool steps on LLaMA-Factory go through :meth:`Endpoint.complete`); its
  text and reasoning handed to the turn as they arrive; the reply as an ``AIMessage`` built from LangChain's own
  chunk types, so tool-call arguments are parsed as LangChain parses them;
* the steps, :class:`_Turn`: counts them; makes the last allowed step tool-less (a turn always ends in an answer);
  for engines that cannot stream tool calls, sends the request after tool results without tools (so the answer
  streams); merges consecutive tool results for engines that need strict alternation; for the text protocol swaps
  the tools for a system prompt, rewrites the history (tool results become user messages) and reads the reply's
  tool blocks as tool calls; gives every call a turn-unique id; turns unreadable calls into calls that fail cleanly;
* tool execution, :class:`_ToolRunner`: announces each call (``ToolCallStarted``), validates its arguments against
  the tool's schema, asks for approval (risky tools), runs the tool under a timeout and reports
  ``ToolCallFinished``. Every failure goes back to the model as a tool error ("Error: …"), never as an exception;
* text shaping, :class:`_TextShaper`: what the user sees of the steps' text (tool blocks of the text protocol held
  back, a paragraph between steps, whitespace at a step's ends dropped).

Text never goes through LangChain's streaming: that cost ~400 µs a chunk (the SDK's pydantic object per SSE event,
LangChain's callbacks and chunk merging, LangGraph's message stream), and at 2,000 tok/s an answer fell seconds
behind the server. The step model reads each event with ``json.loads`` and hands its text on at once; LangChain
sees one result per step. Tool and step events go to the session's sink as they happen, so text and tool events
reach it in order; the graph runs with ``ainvoke``. Once a step ends without tool calls (the answer) the turn is
over: LangGraph's wind-down (a dozen event-loop turns, some 0.3 s while the UI is busy drawing a fast stream) is
cancelled rather than waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse, ToolCallRequest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
    convert_to_openai_messages,
    message_chunk_to_message,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vt_tui.core.agent import text_protocol
from vt_tui.core.agent.config import TOOL_IMAGES, AgentConfig, ApprovalRequest, approval_scope, tool_title
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import Event, ToolCallFinished, ToolCallStarted, ToolStatus
from vt_tui.core.profiles import ToolMode
from vt_tui.core.reasoning import server_reasoning_tokens, split_reply

log = logging.getLogger(__name__)
MODEL_RESULT_CHARS = 16_000  # a tool result longer than this is cut before the model reads it
EVENT_RESULT_CHARS = 100_000  # ... and before it is shown and stored
ERROR_PREFIX = "Error: "


class Sink(Protocol):
    """Where a turn's output goes (the session's pipe)."""

    def text(self, text: str) -> None: ...
    def reasoning(self, text: str) -> None: ...
    def event(self, event: Event) -> None: ...
    def step_done(self, usage: dict[str, Any] | None, finish_reason: str | None) -> None: ...


class StepOutput(Protocol):
    """Where a step's text and reasoning go as they arrive, and its reply once complete."""

    def text(self, text: str) -> None: ...
    def reasoning(self, text: str) -> None: ...
    def finished(self, reply: AIMessage) -> AIMessage: ...


class _Discard:
    """The output of a model no turn listens to."""

    def text(self, text: str) -> None:
        pass

    def reasoning(self, text: str) -> None:
        pass

    def finished(self, reply: AIMessage) -> AIMessage:
        return reply


@dataclass
class AgentResult:
    steps: int
    tool_calls: int
    finish_reason: str | None  # the last step's, or "max_steps" when the model still wanted tools at the end


# --- step I/O: the chat model ------------------------------------------------------------------------


class EndpointChatModel(BaseChatModel):
    """One agent step on an :class:`Endpoint`, as a LangChain chat model.

    ``params`` are the conversation's generation parameters. ``output`` (the running turn, :class:`_Turn`) hears
    the step's text and reasoning as they arrive and reads the reply the moment it is complete: read after
    LangChain's own bookkeeping, the turn ended 11 event-loop turns after the answer's last byte instead of 6
    (``test_the_turn_ends_as_soon_as_the_answer_has_streamed``). Thinking (a reasoning field, or a leading
    ``<think>`` block: :mod:`vt_tui.core.reasoning`) is shown, never part of the step's message: it is not sent
    back in later steps, nor read for text-protocol tool blocks.
    ``max_tokens`` is sent as such (llama.cpp, LLaMA-Factory and older vLLM ignore OpenAI's newer
    ``max_completion_tokens``). Streamed tool-call deltas that repeat ``id`` and ``name`` in every chunk (llama.cpp)
    are merged, never concatenated ("calculatorcalculator…").
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    endpoint: Endpoint
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    output: Any = Field(default_factory=_Discard)  # a StepOutput

    @property
    def _llm_type(self) -> str:
        return "vt-tui-endpoint"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        """The tools as OpenAI function specs, sent with every step of this binding."""
        bound: dict[str, Any] = {"tools": [convert_to_openai_tool(tool) for tool in tools], **kwargs}
        if tool_choice is not None:
            bound["tool_choice"] = tool_choice
        return self.bind(**bound)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError("agent steps run on the event loop: use ainvoke")

    async def _agenerate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        sent = [_as_sent(message) for message in convert_to_openai_messages(messages)]
        params = {**self.params, **kwargs, **({"stop": stop} if stop else {})}
        if self.endpoint.profile.stream_tool_calls or not params.get("tools"):
            reply = await self._streamed(sent, params)
        else:
            reply = await self._completed(sent, params)
        return ChatResult(generations=[ChatGeneration(message=self.output.finished(reply))])

    async def _streamed(self, sent: list[dict[str, Any]], params: dict[str, Any]) -> AIMessage:
        output = self.output
        text: list[str] = []
        calls: dict[Any, _ToolDelta] = {}
        finish_reason: str | None = None
        usage: dict[str, Any] | None = None
        async for chunk in self.endpoint.stream_chat(self.model, sent, params):
            if chunk.reasoning:
                output.reasoning(chunk.reasoning)
            if chunk.content:
                text.append(chunk.content)
                output.text(chunk.content)
            for delta in chunk.tool_calls:
                _ToolDelta.add(calls, delta)
            finish_reason = chunk.finish_reason or finish_reason
            usage = chunk.usage or usage
        return _reply("".join(text), calls, usage, finish_reason, self.model)

    async def _completed(self, sent: list[dict[str, Any]], params: dict[str, Any]) -> AIMessage:
        """A step the engine cannot stream: its text is shown when it returns."""
        result = await self.endpoint.complete(self.model, sent, params)
        choice = (result.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        thought, text = split_reply(message.get("content") if isinstance(message.get("content"), str) else "")
        if reasoning := message.get("reasoning_content") or message.get("reasoning") or thought:
            self.output.reasoning(reasoning)
        if text:
            self.output.text(text)
        calls: dict[Any, _ToolDelta] = {}
        for index, call in enumerate(message.get("tool_calls") or ()):
            _ToolDelta.add(calls, {**call, "index": index})
        return _reply(text, calls, result.get("usage"), choice.get("finish_reason"), self.model)


def _as_sent(message: dict[str, Any]) -> dict[str, Any]:
    """A message as OpenAI's own client sends it, which every engine takes: null content beside tool calls, no
    ``name`` on a tool result."""
    if message.get("role") == "tool":
        message.pop("name", None)
    elif message.get("tool_calls") and not message.get("content"):
        message["content"] = None
    return message


@dataclass
class _ToolDelta:
    """One tool call, put together from its deltas."""

    id: str | None = None
    name: str | None = None
    args: str = ""

    @staticmethod
    def add(calls: dict[Any, _ToolDelta], delta: dict[str, Any]) -> None:
        """Add one delta. An ``id`` or ``name`` equal to the call's is a repeat and dropped (llama.cpp repeats them
        in every delta); other pieces are joined, as LangChain joins chunks."""
        call_id, function = delta.get("id"), delta.get("function") or {}
        index = delta.get("index")
        if index is None:  # not OpenAI's format: a new id starts a new call
            last = next(reversed(calls), None)
            index = last if last is not None and call_id in (None, calls[last].id) else len(calls)
        call = calls.setdefault(index, _ToolDelta())
        if call_id and call_id != call.id:
            call.id = (call.id or "") + call_id
        name = function.get("name")
        if name and name != call.name:
            call.name = (call.name or "") + name
        call.args += function.get("arguments") or ""

    def chunk(self, index: Any) -> ToolCallChunk:
        return tool_call_chunk(name=self.name, args=self.args, id=self.id, index=index)


def _reply(
    text: str, calls: dict[Any, _ToolDelta], usage: dict[str, Any] | None, finish_reason: str | None, model: str
) -> AIMessage:
    """The step's ``AIMessage``, its tool calls parsed by LangChain (unreadable arguments: ``invalid_tool_calls``)."""
    metadata: dict[str, Any] = {"model_name": model, "model_provider": "openai"}
    if finish_reason:
        metadata["finish_reason"] = finish_reason
    reply = AIMessageChunk(
        content=text,
        tool_call_chunks=[call.chunk(index) for index, call in calls.items()],
        usage_metadata=_usage_metadata(usage),
        response_metadata=metadata,
    )
    return message_chunk_to_message(reply)  # type: ignore[return-value]


def _usage_metadata(usage: dict[str, Any] | None) -> UsageMetadata | None:
    if not usage:
        return None
    input_tokens, output_tokens = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    metadata = UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=usage.get("total_tokens") or input_tokens + output_tokens,
    )
    if thinking := server_reasoning_tokens(usage):
        metadata["output_token_details"] = {"reasoning": thinking}
    return metadata


# --- the runner --------------------------------------------------------------------------------------


class AgentRunner:
    """Runs agent turns for one session ("always" approvals live in the shared :class:`AgentConfig`)."""

    def __init__(self, endpoint: Endpoint, config: AgentConfig) -> None:
        self.endpoint = endpoint
        self.config = config
        self._agents: dict[tuple[Any, ...], tuple[list[BaseTool], Any, EndpointChatModel]] = {}
        self._approval_lock: asyncio.Lock | None = None
        self._offered: tuple[list[BaseTool], list[BaseTool]] | None = None  # (registry's list, offered of it)
        self._specs: tuple[list[BaseTool], list[text_protocol.ToolSpec]] | None = None
        self._winding_down: set[asyncio.Future[Any]] = set()  # graphs cancelled after their answer, until done

    @property
    def tools(self) -> list[BaseTool]:
        """The tools offered now: anew when the registry's list changes (MCP servers come and go), else the same
        list object, so that what is built on it is built once."""
        listed = self.config.registry.tools
        if self._offered is None or self._offered[0] is not listed:
            self._offered = (listed, self.config.offered())
        return self._offered[1]

    def specs(self) -> list[text_protocol.ToolSpec]:
        """The tools as the text protocol's system prompt describes them."""
        tools = self.tools
        if self._specs is None or self._specs[0] is not tools:
            self._specs = (tools, [_spec(t) for t in tools])
        return self._specs[1]

    async def agent(self, model: str, params: dict[str, Any]) -> tuple[Any, EndpointChatModel]:
        """The agent graph and its chat model, for ``model``, ``params`` and the tools offered now (built once,
        off the event loop)."""
        key = (model, json.dumps(params, sort_keys=True, default=str), self.endpoint.profile.name)
        tools = self.tools
        built = self._agents.get(key)
        if built is None or built[0] is not tools:
            built = await asyncio.to_thread(self._build, model, params, tools)
            self._agents = {key: built}  # one at a time: a new model, parameters or tools replace it
        return built[1], built[2]

    def _build(
        self, model: str, params: dict[str, Any], tools: list[BaseTool]
    ) -> tuple[list[BaseTool], Any, EndpointChatModel]:
        chat = EndpointChatModel(endpoint=self.endpoint, model=model, params=params)
        return tools, create_agent(chat, tools, middleware=[_VtMiddleware()]), chat

    async def run(
        self, *, model: str, mode: ToolMode, messages: list[dict[str, Any]], params: dict[str, Any], sink: Sink
    ) -> AgentResult:
        """Run one turn. ``messages`` is the request as the plain path builds it (system first, if any)."""
        agent, chat = await self.agent(model, params)
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
        body = convert_to_messages(messages[1:] if system is not None else messages)
        turn = _Turn(self, mode, system, sink, chat)
        # Everything the turn shows reaches the sink from inside the graph (model, middleware, tools), as it
        # happens: nothing to read from LangGraph's stream.
        graph = asyncio.ensure_future(agent.ainvoke({"messages": body}, context=turn))
        try:
            await asyncio.wait((graph, turn.answered), return_when=asyncio.FIRST_COMPLETED)
            if graph.done():
                graph.result()  # its error, if any
            else:  # the answer is in; LangGraph's own wind-down (a dozen loop turns) is not waited for
                graph.cancel()
                self._winding_down.add(graph)
                graph.add_done_callback(self._wound_down)
        except BaseException as exc:
            if not graph.done():  # cancelled: the running tool or approval prompt is cancelled before we return
                graph.cancel()
                await asyncio.wait((graph,))
            if isinstance(exc, asyncio.CancelledError):
                turn.tools.abandon(ToolStatus.CANCELLED, "cancelled")
            else:
                turn.tools.abandon(ToolStatus.ERROR, "the turn failed before the tool finished")
            raise
        turn.shaper.flush()
        if turn.limited and not turn.shaper.any_text:
            sink.text(f"(Stopped after {turn.step} steps, the max_steps limit, before the model gave an answer.)")
        return AgentResult(turn.step, turn.tools.calls, "max_steps" if turn.limited else turn.finish_reason)

    def _wound_down(self, graph: asyncio.Future[Any]) -> None:
        self._winding_down.discard(graph)
        if not graph.cancelled() and graph.exception() is not None:
            log.debug("agent graph failed after its answer", exc_info=graph.exception())

    async def approve(self, request: ApprovalRequest) -> str:
        """ "once" / "always" (allowed), "deny", or "headless" (denied for want of an approver)."""
        key = (request.name, request.scope)
        if self.config.allowed(request.scope, request.name):
            return "always"
        approver = self.config.approver
        if approver is None:
            return "headless"
        if self._approval_lock is None:
            self._approval_lock = asyncio.Lock()
        async with self._approval_lock:  # one prompt at a time when the model asked for several calls
            if key in self.config.approved:
                return "always"
            try:
                decision = await approver(request)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the approver failed; denying %s", request.name)
                decision = "deny"
        if decision == "always":
            self.config.approved.add(key)
        return decision if decision in ("once", "always") else "deny"


# --- one turn ----------------------------------------------------------------------------------------


class _Turn:
    """One turn, LangGraph's run context: its steps (prepared and counted; their replies read as tool calls, the
    answer noticed), with its text shaper and tool runner. It is the output of the agent's model while it runs."""

    def __init__(
        self, runner: AgentRunner, mode: ToolMode, system: str | None, sink: Sink, chat: EndpointChatModel
    ) -> None:
        self.runner = runner
        self.mode = mode
        self.system = system
        self.sink = sink
        self.shaper = _TextShaper(sink, hold_tool_blocks=mode is ToolMode.TEXT)
        profile = runner.endpoint.profile
        # Images that tools return reach the model as a user message after the results (OpenAI-style servers take
        # images in user messages only); engines that need strict alternation take no extra message.
        self.shows_images = mode is ToolMode.NATIVE and profile.vision and not profile.strict_alternation
        self.tools = _ToolRunner(runner, sink, shows_images=self.shows_images)
        chat.output = self  # the session runs one turn at a time: its agent's model now reports to this one
        self.step = 0
        self.limited = False  # the model still wanted tools when max_steps ran out
        self.finish_reason: str | None = None
        self._ids: set[str] = set()
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        self.step += 1
        return await handler(self._prepare(request, self._last_step()))

    def _last_step(self) -> bool:
        return self.step >= self.runner.config.max_steps

    # the step model's output
    def text(self, text: str) -> None:
        self.shaper.text(text)

    def reasoning(self, text: str) -> None:
        self.sink.reasoning(text)

    def finished(self, reply: AIMessage) -> AIMessage:
        """The step's reply as the graph keeps it: its tool calls with turn-unique ids, unreadable ones as calls
        that fail cleanly, none on the last step. A reply without calls is the turn's answer."""
        calls = self._calls_of(reply)
        if calls and self._last_step():
            self.limited = True
            calls = []
        self.shaper.end_step()
        self.finish_reason = reply.response_metadata.get("finish_reason")
        self.sink.step_done(_usage(reply), self.finish_reason)
        if not calls and not self.answered.done():
            self.answered.set_result(None)  # nothing the graph does after this is shown
        self.tools.announce(calls, self.step)
        return reply.model_copy(update={"tool_calls": calls, "invalid_tool_calls": []})

    def _prepare(self, request: ModelRequest, last: bool) -> ModelRequest:
        profile = self.runner.endpoint.profile
        messages = list(request.messages)
        system = self.system
        if self.mode is ToolMode.TEXT:
            system = text_protocol.system_prompt(self.runner.specs(), base=system, last_step=last)
            return request.override(
                messages=_text_history(messages),
                tools=[],
                system_message=SystemMessage(system) if system else None,
            )
        after_results = bool(messages) and isinstance(messages[-1], ToolMessage)
        tools = request.tools
        if last or (after_results and not profile.stream_tool_calls):
            tools = []  # the answer, streamed: no more tool calls in this turn
        if last:
            note = "You cannot call tools any more in this reply: answer now with what you have."
            system = f"{system}\n\n{note}" if system else note
        if profile.strict_alternation:
            messages = _merge_tool_results(messages)
        elif self.shows_images:
            messages = _tool_images_shown(messages)
        return request.override(
            messages=messages, tools=tools, system_message=SystemMessage(system) if system else None
        )

    def _calls_of(self, message: AIMessage) -> list[dict[str, Any]]:
        """The message's tool calls with turn-unique ids; unreadable ones kept as calls that fail cleanly."""
        calls: list[dict[str, Any]] = []
        if self.mode is ToolMode.TEXT:
            content = _text_of(message)
            _, parsed = text_protocol.parse_calls(content, (t.name for t in self.runner.tools))
            for n, call in enumerate(parsed, 1):
                call_id = self._unique_id(None, n)
                if call.error is not None:
                    self.tools.refuse(call_id, call.error + _raw_excerpt(call.raw))
                calls.append(_call(call.name, call.args or {}, call_id))
            return calls
        for n, call in enumerate(message.tool_calls, 1):
            calls.append(_call(call["name"], call["args"], self._unique_id(call.get("id"), n)))
        for n, bad in enumerate(message.invalid_tool_calls, len(calls) + 1):
            call_id = self._unique_id(bad.get("id"), n)
            self.tools.refuse(call_id, "the arguments are not valid JSON" + _raw_excerpt(bad.get("args") or ""))
            calls.append(_call(bad.get("name") or "", {}, call_id))
        return calls

    def _unique_id(self, call_id: str | None, n: int) -> str:
        base = call_id or (f"text_{self.step}_{n}" if self.mode is ToolMode.TEXT else f"call_{self.step}_{n}")
        unique, k = base, 1
        while unique in self._ids:
            k += 1
            unique = f"{base}~{k}"
        self._ids.add(unique)
        return unique


class _TextShaper:
    """What the user sees of a turn's text: each step's text starts a new paragraph; whitespace at a step's ends is
    dropped; with the text protocol, tool blocks are held back (they show in the tool panel instead)."""

    def __init__(self, sink: Sink, *, hold_tool_blocks: bool) -> None:
        self.sink = sink
        self.hold_tool_blocks = hold_tool_blocks
        self.any_text = False
        self._step_text = False  # this step has shown text
        self._ws = ""  # trailing whitespace held back until more text follows in the same step
        self._scanner: text_protocol.BlockScanner | None = None

    def text(self, text: str) -> None:
        if self.hold_tool_blocks:
            if self._scanner is None:
                self._scanner = text_protocol.BlockScanner()
            text = self._scanner.feed(text)
        self._show(text)

    def _show(self, text: str) -> None:
        if not text:
            return
        if not self._step_text:
            text = text.lstrip()
            if not text:
                return
            lead = "\n\n" if self.any_text else ""
            self._step_text = True
        else:
            lead = self._ws
        body = text.rstrip()
        if not body:
            self._ws = lead + text
            return
        self._ws = text[len(body) :]
        self.any_text = True
        self.sink.text(lead + body)

    def flush(self) -> None:
        if self._scanner is not None:
            self._show(self._scanner.finish())
            self._scanner = None

    def end_step(self) -> None:
        self.flush()
        self._step_text, self._ws = False, ""


class _ToolRunner:
    """A turn's tool calls: announced as the model asks for them, then run one by one by LangGraph's tool node —
    arguments validated against the tool's schema, risky tools approved, each under a timeout — and finished with
    an event. Every failure becomes the tool message the model reads next."""

    def __init__(self, runner: AgentRunner, sink: Sink, *, shows_images: bool) -> None:
        self.runner = runner
        self.sink = sink
        self.shows_images = shows_images  # tools' images go to the model (else a note says they were left out)
        self.calls = 0
        self._refused: dict[str, str] = {}  # call id -> why it cannot run
        self._open: dict[str, tuple[str, float]] = {}  # call id -> (name, started)

    def refuse(self, call_id: str, why: str) -> None:
        """The call could not be read: it fails with ``why`` when its turn comes."""
        self._refused[call_id] = why

    def announce(self, calls: list[dict[str, Any]], step: int) -> None:
        tools = {t.name: t for t in self.runner.tools}
        for call in calls:
            tool = tools.get(call["name"])
            risky = bool(tool is not None and (tool.metadata or {}).get("risky"))
            self._open[call["id"]] = (call["name"], time.perf_counter())
            self.calls += 1
            self.sink.event(ToolCallStarted(call["id"], call["name"], call["args"], step, risky))

    def abandon(self, status: ToolStatus, why: str) -> None:
        now = time.perf_counter()
        for call_id, (name, started) in list(self._open.items()):
            self.sink.event(ToolCallFinished(call_id, name, None, why, now - started, status))
        self._open.clear()

    async def call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[Any]]) -> ToolMessage:
        call = request.tool_call
        call_id, name, args = call["id"] or "", call["name"], call.get("args") or {}
        _, started = self._open.get(call_id, (name, time.perf_counter()))

        def finish(
            status: ToolStatus,
            result: str | None = None,
            error: str | None = None,
            tell: str = "",
            images: list[dict[str, Any]] | None = None,
        ) -> ToolMessage:
            self._open.pop(call_id, None)
            shown = _cut(result, EVENT_RESULT_CHARS) if result is not None else None
            self.sink.event(ToolCallFinished(call_id, name, shown, error, time.perf_counter() - started, status))
            ok = status is ToolStatus.OK
            content = _cut(result or "", MODEL_RESULT_CHARS) if ok else (tell or ERROR_PREFIX + str(error))
            if images and not self.shows_images:
                content += f"\n\n[{len(images)} image(s) not shown: this endpoint takes no images here]"
            return ToolMessage(
                content=content,
                name=name,
                tool_call_id=call_id,
                status="success" if ok else "error",
                artifact={TOOL_IMAGES: images} if images and self.shows_images else None,
            )

        if call_id in self._refused:
            return finish(ToolStatus.ERROR, error=self._refused.pop(call_id))
        tool: BaseTool | None = request.tool  # type: ignore[assignment]
        if tool is None:
            known = ", ".join(t.name for t in self.runner.tools)
            what = f"unknown tool {name!r}" if name else "the tool call has no tool name"
            return finish(ToolStatus.ERROR, error=f"{what}; the tools are: {known}")
        if problem := _validate(tool, args):
            return finish(ToolStatus.ERROR, error=f"invalid arguments for {name}: {problem}")
        if (tool.metadata or {}).get("risky"):
            scope = approval_scope(name, args, built_in=self.runner.config.registry.built_in(name))
            description = (tool.description or "").strip().splitlines()[0] if tool.description else ""
            asking = ApprovalRequest(call_id, name, args, scope, description, tool_title(tool))
            decision = await self.runner.approve(asking)
            if decision == "headless":
                return finish(
                    ToolStatus.DENIED,
                    error=f"not run: {name} needs approval and nobody can be asked here ({scope} is not allowed)",
                    tell=f"The call to {name} was not run: it needs the user's approval, which cannot be given "
                    "here. Answer without it.",
                )
            if decision == "deny":
                return finish(
                    ToolStatus.DENIED,
                    error="denied by the user",
                    tell=f"The user denied the call to {name}. Do not call it again for this request; answer "
                    "without it.",
                )
            started = time.perf_counter()  # the tool's time starts once it may run
        timeout_s = float((tool.metadata or {}).get("timeout_s") or self.runner.config.tool_timeout_s)
        try:
            async with asyncio.timeout(timeout_s) as limit:
                result = await handler(request)
        except TimeoutError:
            if limit.expired():
                return finish(ToolStatus.ERROR, error=f"{name} timed out after {timeout_s:g} s")
            return finish(ToolStatus.ERROR, error=f"{name} failed: TimeoutError")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the tool raised (ToolException-less tools, bugs in plugins)
            log.info("tool %s raised", name, exc_info=True)
            return finish(ToolStatus.ERROR, error=f"{name} failed: {_exc_line(exc)}")
        if isinstance(result, ToolMessage):
            content = _text_of(result)
            if result.status == "error":
                return finish(ToolStatus.ERROR, error=_strip_error(content))
            return finish(ToolStatus.OK, result=content, images=_images_of(result))
        return finish(ToolStatus.OK, result=str(result))  # a Command: nothing vt-tui's tools return


class _VtMiddleware(AgentMiddleware):
    """Hands model and tool calls to the turn (the run context)."""

    async def awrap_model_call(self, request: ModelRequest, handler: Any) -> ModelResponse:
        return await request.runtime.context.model_call(request, handler)

    async def awrap_tool_call(self, request: ToolCallRequest, handler: Any) -> ToolMessage:
        return await request.runtime.context.tools.call(request, handler)


# --- helpers -----------------------------------------------------------------------------------------


def _text_of(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.text)


def _call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def _spec(tool: BaseTool) -> text_protocol.ToolSpec:
    function = convert_to_openai_tool(tool)["function"]
    return text_protocol.ToolSpec(tool.name, function.get("description", ""), function.get("parameters", {}))


def _usage(message: AIMessage) -> dict[str, Any] | None:
    usage = message.usage_metadata
    if not usage or not usage.get("output_tokens"):
        return None
    out: dict[str, Any] = {"completion_tokens": usage["output_tokens"], "prompt_tokens": usage.get("input_tokens")}
    if thinking := (usage.get("output_token_details") or {}).get("reasoning"):
        out["completion_tokens_details"] = {"reasoning_tokens": thinking}
    return out


def _validate(tool: BaseTool, args: Any) -> str | None:
    if not isinstance(args, dict):
        return f"expected a JSON object, got {type(args).__name__}"
    schema = tool.tool_call_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            schema.model_validate(args)
        except ValidationError as exc:
            return "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()[:5]
            )
    elif isinstance(schema, dict):  # a JSON schema (MCP tools)
        return _json_schema_problems(schema, args)
    return None


def _json_schema_problems(schema: dict[str, Any], args: dict[str, Any]) -> str | None:
    """The first few ways ``args`` miss ``schema``. A schema that cannot be used (not valid, an unknown type, a
    ``$ref`` that goes nowhere) checks nothing: the tool's server judges the call."""
    from jsonschema.validators import validator_for

    try:
        validator = validator_for(schema)
        validator.check_schema(schema)
        errors = sorted(validator(schema).iter_errors(args), key=lambda e: list(e.path))
    except Exception:
        return None
    return "; ".join(f"{'.'.join(map(str, e.path)) or 'arguments'}: {e.message}" for e in errors[:5]) or None


def _text_history(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The history for a text-protocol model: no tool calls; tool results as user messages (consecutive ones
    merged into one, which strict-alternation engines need anyway)."""
    out: list[BaseMessage] = []
    merge_next = False  # the last message in ``out`` is a tool result
    for message in messages:
        if isinstance(message, ToolMessage):
            content = _text_of(message)
            text = text_protocol.result_message(message.name or "tool", content)
            if merge_next:
                out[-1] = HumanMessage(f"{out[-1].content}\n\n{text}")
            else:
                out.append(HumanMessage(text))
            merge_next = True
            continue
        if isinstance(message, AIMessage) and (message.tool_calls or message.invalid_tool_calls):
            message = AIMessage(content=message.content or "")
        out.append(message)
        merge_next = False
    return out


def _images_of(result: ToolMessage) -> list[dict[str, Any]]:
    """The image blocks in a tool's artifact (see :data:`~vt_tui.core.agent.config.TOOL_IMAGES`)."""
    blocks = result.artifact.get(TOOL_IMAGES) if isinstance(result.artifact, dict) else None
    return [b for b in blocks if isinstance(b, dict) and b.get("type") == "image"] if isinstance(blocks, list) else []


def _tool_images_shown(messages: list[BaseMessage]) -> list[BaseMessage]:
    """After each run of tool results, the images they returned as one user message."""
    out: list[BaseMessage] = []
    images: list[dict[str, Any]] = []
    for n, message in enumerate(messages):
        out.append(message)
        if isinstance(message, ToolMessage):
            images += _images_of(message)
            last_of_run = n + 1 == len(messages) or not isinstance(messages[n + 1], ToolMessage)
            if images and last_of_run:
                out.append(HumanMessage([{"type": "text", "text": "The images the tools returned:"}, *images]))
                images = []
    return out


def _merge_tool_results(messages: list[BaseMessage]) -> list[BaseMessage]:
    """Consecutive tool results as one (engines that need strict alternation reject two in a row)."""
    out: list[BaseMessage] = []
    run: list[ToolMessage] = []

    def close() -> None:
        if len(run) == 1:
            out.append(run[0])
        elif run:
            text = "\n\n".join(f"{m.name}: {m.content}" for m in run)
            out.append(ToolMessage(content=text, tool_call_id=run[0].tool_call_id, name=run[0].name))
        run.clear()

    for message in messages:
        if isinstance(message, ToolMessage):
            run.append(message)
            continue
        close()
        out.append(message)
    close()
    return out


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… cut: {len(text) - limit:,} more characters]"


def _raw_excerpt(raw: str) -> str:
    raw = " ".join(str(raw).split())
    if not raw:
        return ""
    return f": {raw[:200]}{'…' if len(raw) > 200 else ''}"


def _strip_error(text: str) -> str:
    text = text.strip()
    return text[len(ERROR_PREFIX) :] if text.startswith(ERROR_PREFIX) else text


def _exc_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__
