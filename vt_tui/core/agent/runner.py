"""The agent path of a turn: LangChain's ``create_agent`` over ``ChatOpenAI`` on the endpoint's own client.

Importing this module imports LangChain (1–2 s): the session does it in a worker thread, on first use.

One :class:`AgentRunner` per session. It builds (and caches, per model and parameters) an agent whose model is
a :class:`LocalChatOpenAI` sharing the endpoint's ``AsyncOpenAI`` client, so there is one HTTP connection pool
per endpoint. Everything vt-tui adds sits in one middleware, which delegates to the per-turn :class:`_Run`:

* ``awrap_model_call`` counts steps; makes the last allowed step tool-less (so a turn always ends in an answer);
  for engines that cannot stream tool calls (LLaMA-Factory) leaves the tool steps non-streamed and sends the
  request that follows tool results streamed and without tools; merges consecutive tool results for engines
  that need strict alternation; for the text protocol swaps the tools for a system prompt, rewrites the history
  (tool results become user messages) and parses the reply's tool blocks into tool calls. It gives every call a
  turn-unique id, turns unparseable calls into calls that fail cleanly, and announces them (``ToolCallStarted``).
* ``awrap_tool_call`` validates the arguments against the tool's schema, asks for approval (risky tools), runs
  the tool under a timeout and reports ``ToolCallFinished``. Every failure goes back to the model as a tool
  error ("Error: …") and never escapes as an exception.

Streamed steps bypass LangChain's model call: through it each chunk cost ~400 µs (the SDK's pydantic object per SSE
event, LangChain's callbacks and chunk merging, LangGraph's message stream), and at 2,000 tok/s an answer fell
seconds behind the server. ``awrap_model_call`` streams every step the engine can stream itself
(:meth:`LocalChatOpenAI.astream_step`: the payload ChatOpenAI would send, read by :meth:`Endpoint.stream_chat`, the
plain-chat path, ``json.loads`` per event), hands each text and reasoning delta to the turn as it arrives, and
builds the step's ``AIMessage`` from LangChain's own chunk types (so tool-call arguments are parsed as LangChain
parses them). The steps the engine cannot stream (LLaMA-Factory's tool steps) go through :meth:`Endpoint.complete`
(:meth:`LocalChatOpenAI.acomplete_step`), their reply read by ChatOpenAI's own parser; their text is shown when
they return. LangChain's model call is never used. Tool and step events go to the session's sink directly, as they
happen, so text and tool events reach it in the order they happened; the graph runs with ``ainvoke``. Once a step
ends without tool calls (the answer) the turn is over: LangGraph's wind-down (a dozen event-loop turns, some 0.3 s
while the UI is busy drawing a fast stream) is cancelled rather than waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, PrivateAttr, ValidationError

from vt_tui.core.agent import text_protocol as tp
from vt_tui.core.agent.config import TOOL_IMAGES, AgentConfig, ApprovalRequest, Mode, approval_scope
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import Event, ToolCallFinished, ToolCallStarted

log = logging.getLogger(__name__)
MODEL_RESULT_CHARS = 16_000  # a tool result longer than this is cut before the model reads it
EVENT_RESULT_CHARS = 100_000  # ... and before it is shown and stored
ERROR_PREFIX = "Error: "
_WINDING_DOWN: set[asyncio.Future[Any]] = set()  # graphs cancelled after their answer, until they are done


def _wound_down(graph: asyncio.Future[Any]) -> None:
    _WINDING_DOWN.discard(graph)
    if not graph.cancelled() and graph.exception() is not None:
        log.debug("agent graph failed after its answer", exc_info=graph.exception())


class Sink(Protocol):
    """Where a turn's output goes (the session's pipe)."""

    def text(self, text: str) -> None: ...
    def reasoning(self, text: str) -> None: ...
    def event(self, event: Event) -> None: ...
    def step_done(self, usage: dict[str, Any] | None, finish_reason: str | None) -> None: ...


@dataclass
class AgentResult:
    steps: int
    tool_calls: int
    finish_reason: str | None  # the last step's, or "max_steps" when the model still wanted tools at the end


# --- the chat model ----------------------------------------------------------------------------------


class LocalChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` for local OpenAI-compatible servers.

    * :meth:`astream_step` streams one agent step through the endpoint's own reader (:meth:`Endpoint.stream_chat`)
      and hands the turn each text and reasoning delta as it arrives (see the module docstring); the middleware
      calls it instead of LangChain's model call for every step the engine can stream. ``reasoning_content``
      (ChatOpenAI drops it) is shown, never sent back;
    * :meth:`acomplete_step` sends the steps the engine cannot stream (``disable_streaming="tool_calling"``: tools
      offered to LLaMA-Factory) through :meth:`Endpoint.complete`;
    * sends ``max_tokens`` (ChatOpenAI renames it ``max_completion_tokens``, which llama.cpp, LLaMA-Factory and
      older vLLM ignore);
    * merges streamed tool-call deltas that repeat ``id`` and ``name`` in every chunk (llama.cpp does): LangChain
      would concatenate the names ("calculatorcalculator…").
    """

    _endpoint: Endpoint | None = PrivateAttr(default=None)

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload

    def streams(self, request: ModelRequest) -> bool:
        """Whether this step is streamed: all but tool steps on engines that cannot stream tool calls."""
        return self.disable_streaming is False or (self.disable_streaming == "tool_calling" and not request.tools)

    def _step_request(self, request: ModelRequest) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """(model, messages, parameters) of the request LangChain would send for this step, tools bound as
        ``create_agent`` binds them; streaming is the endpoint's to decide."""
        if request.tools:
            bound = self.bind_tools(request.tools, tool_choice=request.tool_choice, **request.model_settings)
        else:
            bound = self.bind(**request.model_settings)
        messages = [request.system_message, *request.messages] if request.system_message else request.messages
        params = self._get_request_payload(messages, **bound.kwargs)  # type: ignore[attr-defined]
        model, sent = params.pop("model"), params.pop("messages")
        params.pop("stream", None)
        params.pop("stream_options", None)  # stream_chat asks for usage where the engine honours it
        return model, sent, params

    async def acomplete_step(self, request: ModelRequest) -> AIMessage:
        """One step, not streamed (tool steps on engines that cannot stream tool calls), through the endpoint's
        own request (message shaping, one resend on a dropped kept-alive connection, errors in words)."""
        assert self._endpoint is not None, "build it with chat_model()"
        model, sent, params = self._step_request(request)
        reply = await self._endpoint.complete(model, sent, params)
        return self._create_chat_result(reply).generations[0].message  # type: ignore[return-value]

    async def astream_step(self, request: ModelRequest, turn: _Run) -> AIMessage:
        """One step, streamed: the request LangChain would send (tools bound as ``create_agent`` binds them), read
        with ``json.loads`` per event, its text and reasoning handed to ``turn`` as they arrive; the reply as the
        ``AIMessage`` LangChain would have built (tool-call arguments parsed by LangChain)."""
        assert self._endpoint is not None, "build it with chat_model()"
        model, sent, params = self._step_request(request)
        text: list[str] = []
        calls: dict[Any, _ToolDelta] = {}
        finish_reason: str | None = None
        usage: dict[str, Any] | None = None
        async for chunk in self._endpoint.stream_chat(model, sent, params):
            if chunk.reasoning:
                turn.reasoning(chunk.reasoning)
            if chunk.content:
                text.append(chunk.content)
                turn.text(chunk.content)
            for delta in chunk.tool_calls:
                _ToolDelta.add(calls, delta)
            finish_reason = chunk.finish_reason or finish_reason
            usage = chunk.usage or usage
        metadata: dict[str, Any] = {"model_name": model, "model_provider": "openai"}
        if finish_reason:
            metadata["finish_reason"] = finish_reason
        reply = AIMessageChunk(
            content="".join(text),
            tool_call_chunks=[call.chunk(index) for index, call in calls.items()],
            usage_metadata=_usage_metadata(usage),
            response_metadata=metadata,
        )
        return message_chunk_to_message(reply)  # type: ignore[return-value]


@dataclass
class _ToolDelta:
    """One streamed tool call, put together from its deltas."""

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


def _usage_metadata(usage: dict[str, Any] | None) -> UsageMetadata | None:
    if not usage:
        return None
    input_tokens, output_tokens = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=usage.get("total_tokens") or input_tokens + output_tokens,
    )


def chat_model(endpoint: Endpoint, model: str, params: dict[str, Any]) -> LocalChatOpenAI:
    """A chat model on the endpoint's own ``AsyncOpenAI`` client (one client, one pool per endpoint)."""
    client = endpoint.client
    profile = endpoint.profile
    known = {"temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty"}
    sent = endpoint.request_params(params)
    fields = {k: v for k, v in sent.items() if k in known}
    extra = {k: v for k, v in sent.items() if k not in known}
    chat = LocalChatOpenAI(
        model=model,
        base_url=str(client.base_url),
        api_key=client.api_key,
        async_client=client.chat.completions,  # unused: every step goes through the endpoint (see the docstring)
        root_async_client=client,
        max_retries=0,
        disable_streaming=False if profile.stream_tool_calls else "tool_calling",
        model_kwargs=extra,
        **fields,
    )
    chat._endpoint = endpoint
    return chat


# --- the runner --------------------------------------------------------------------------------------


class AgentRunner:
    """Runs agent turns for one session ("always" approvals live in the shared :class:`AgentConfig`)."""

    def __init__(self, endpoint: Endpoint, config: AgentConfig) -> None:
        self.endpoint = endpoint
        self.config = config
        self._agents: dict[tuple[Any, ...], Any] = {}
        self._approval_lock: asyncio.Lock | None = None
        self._specs: tuple[list[BaseTool], list[tp.ToolSpec]] | None = None

    def specs(self) -> list[tp.ToolSpec]:
        """The tools as the text protocol's system prompt describes them (anew when the registry's list changes:
        MCP servers come and go)."""
        tools = self.tools
        if self._specs is None or self._specs[0] is not tools:
            self._specs = (tools, [_spec(t) for t in tools])
        return self._specs[1]

    @property
    def tools(self) -> list[BaseTool]:
        return self.config.registry.tools

    async def agent(self, model: str, params: dict[str, Any]) -> Any:
        key = (model, json.dumps(params, sort_keys=True, default=str), self.endpoint.profile.name, id(self.tools))
        agent = self._agents.get(key)
        if agent is None:
            # The first ChatOpenAI builds lazily-imported parts of the SDK: keep that off the event loop.
            agent = await asyncio.to_thread(self._build, model, params)
            self._agents = {key: agent}  # one at a time: a new model or new parameters replace it
        return agent

    def _build(self, model: str, params: dict[str, Any]) -> Any:
        return create_agent(chat_model(self.endpoint, model, params), self.tools, middleware=[_VtMiddleware()])

    async def run(
        self, *, model: str, mode: Mode, messages: list[dict[str, Any]], params: dict[str, Any], sink: Sink
    ) -> AgentResult:
        """Run one turn. ``messages`` is the request as the plain path builds it (system first, if any)."""
        agent = await self.agent(model, params)
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
        body = convert_to_messages(messages[1:] if system is not None else messages)
        run = _Run(self, mode, system, sink)
        # Everything the turn shows reaches the sink from inside the graph (model, middleware, tools), as it
        # happens: nothing to read from LangGraph's stream.
        graph = asyncio.ensure_future(agent.ainvoke({"messages": body}, context=run))
        try:
            await asyncio.wait((graph, run.answered), return_when=asyncio.FIRST_COMPLETED)
            if graph.done():
                graph.result()  # its error, if any
            else:  # the answer is in; LangGraph's own wind-down (a dozen loop turns) is not waited for
                graph.cancel()
                _WINDING_DOWN.add(graph)
                graph.add_done_callback(_wound_down)
        except BaseException as exc:
            if not graph.done():  # cancelled: the running tool or approval prompt is cancelled before we return
                graph.cancel()
                await asyncio.wait((graph,))
            if isinstance(exc, asyncio.CancelledError):
                run.abandon_open_calls("cancelled", "cancelled")
            else:
                run.abandon_open_calls("error", "the turn failed before the tool finished")
            raise
        run.flush()
        if run.limited and not run.any_text:
            sink.text(f"(Stopped after {run.step} steps, the max_steps limit, before the model gave an answer.)")
        return AgentResult(run.step, run.calls, "max_steps" if run.limited else run.finish_reason)

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


@dataclass
class _Run:
    """State of one turn, LangGraph's run context: the middleware's state, and where the streamed text goes."""

    runner: AgentRunner
    mode: Mode
    system: str | None
    sink: Sink
    step: int = 0
    calls: int = 0
    limited: bool = False
    finish_reason: str | None = None
    any_text: bool = False
    _step_text: bool = False
    _ws: str = ""  # trailing whitespace held back until more text follows in the same step
    _ids: set[str] = field(default_factory=set)
    _invalid: dict[str, str] = field(default_factory=dict)  # call id -> why it cannot run
    _open: dict[str, tuple[str, float]] = field(default_factory=dict)  # call id -> (name, started)
    _scanner: tp.BlockScanner | None = None
    answered: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def config(self) -> AgentConfig:
        return self.runner.config

    # text ---------------------------------------------------------------------------------------
    def text(self, text: str) -> None:
        if self.mode == "text":
            if self._scanner is None:
                self._scanner = tp.BlockScanner()
            text = self._scanner.feed(text)
        self._show(text)

    def reasoning(self, text: str) -> None:
        self.sink.reasoning(text)

    def _show(self, text: str) -> None:
        """Show ``text``: each step's text starts on a new paragraph; whitespace at a step's ends is dropped."""
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

    def end_step(self, usage: dict[str, Any] | None, finish_reason: str | None) -> None:
        self.flush()
        self._step_text, self._ws = False, ""
        self.finish_reason = finish_reason
        self.sink.step_done(usage, finish_reason)

    def abandon_open_calls(self, status: str, why: str) -> None:
        now = time.perf_counter()
        for call_id, (name, started) in list(self._open.items()):
            self.sink.event(ToolCallFinished(call_id, name, None, why, now - started, status))  # type: ignore[arg-type]
        self._open.clear()

    def shows_images(self) -> bool:
        """Whether images that tools return reach the model (as a user message after the results: OpenAI-style
        servers take images in user messages only); engines that need strict alternation take no extra message."""
        profile = self.runner.endpoint.profile
        return self.mode == "native" and profile.vision and not profile.strict_alternation

    # model calls --------------------------------------------------------------------------------
    async def model_call(self, request: ModelRequest, _handler: Callable[[ModelRequest], Any]) -> Any:
        self.step += 1
        last = self.step >= self.config.max_steps
        request = self._prepare(request, last)
        model: LocalChatOpenAI = request.model  # type: ignore[assignment]
        streamed = model.streams(request)  # either way past LangChain's model call: see the module docstring
        step = await (model.astream_step(request, self) if streamed else model.acomplete_step(request))
        response = ModelResponse(result=[step])
        messages = list(response.result)
        index = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], AIMessage)), None)
        if index is None:
            self.end_step(None, None)
            return response
        message: AIMessage = messages[index]
        if not streamed:
            self.text(_text_of(message))
        calls = self._calls_of(message)
        if calls and last:
            self.limited = True
            calls = []
        messages[index] = message.model_copy(update={"tool_calls": calls, "invalid_tool_calls": []})
        self.end_step(_usage(message), message.response_metadata.get("finish_reason"))
        if not calls and not self.answered.done():
            self.answered.set_result(None)  # the turn's answer: nothing the graph does after this is shown
        tools = {t.name: t for t in self.runner.tools}
        for call in calls:
            tool = tools.get(call["name"])
            risky = bool(tool is not None and (tool.metadata or {}).get("risky"))
            self._open[call["id"]] = (call["name"], time.perf_counter())
            self.calls += 1
            self.sink.event(ToolCallStarted(call["id"], call["name"], call["args"], self.step, risky))
        return ModelResponse(result=messages, structured_response=response.structured_response)

    def _prepare(self, request: ModelRequest, last: bool) -> ModelRequest:
        profile = self.runner.endpoint.profile
        messages = list(request.messages)
        system = self.system
        if self.mode == "text":
            system = tp.system_prompt(self.runner.specs(), base=system, last_step=last)
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
        elif self.shows_images():
            messages = _tool_images_shown(messages)
        return request.override(
            messages=messages, tools=tools, system_message=SystemMessage(system) if system else None
        )

    def _calls_of(self, message: AIMessage) -> list[dict[str, Any]]:
        """The message's tool calls with turn-unique ids; unreadable ones kept as calls that fail cleanly."""
        calls: list[dict[str, Any]] = []
        if self.mode == "text":
            content = _text_of(message)
            _, parsed = tp.parse_calls(content, (t.name for t in self.runner.tools))
            for n, call in enumerate(parsed, 1):
                call_id = self._unique_id(None, n)
                if call.error is not None:
                    self._invalid[call_id] = call.error + _raw_excerpt(call.raw)
                calls.append(_call(call.name, call.args or {}, call_id))
            return calls
        for n, call in enumerate(message.tool_calls, 1):
            calls.append(_call(call["name"], call["args"], self._unique_id(call.get("id"), n)))
        for n, bad in enumerate(message.invalid_tool_calls, len(calls) + 1):
            call_id = self._unique_id(bad.get("id"), n)
            raw = bad.get("args") or ""
            self._invalid[call_id] = "the arguments are not valid JSON" + _raw_excerpt(raw)
            calls.append(_call(bad.get("name") or "", {}, call_id))
        return calls

    def _unique_id(self, call_id: str | None, n: int) -> str:
        base = call_id or (f"text_{self.step}_{n}" if self.mode == "text" else f"call_{self.step}_{n}")
        unique, k = base, 1
        while unique in self._ids:
            k += 1
            unique = f"{base}~{k}"
        self._ids.add(unique)
        return unique

    # tool calls ---------------------------------------------------------------------------------
    async def tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        call = request.tool_call
        call_id, name, args = call["id"], call["name"], call.get("args") or {}
        _, started = self._open.get(call_id, (name, time.perf_counter()))

        def finish(status: str, result: str | None = None, error: str | None = None, tell: str | None = None,
                   images: list[dict[str, Any]] | None = None):  # fmt: skip
            self._open.pop(call_id, None)
            duration = time.perf_counter() - started
            shown_result = _cut(result, EVENT_RESULT_CHARS) if result is not None else None
            self.sink.event(ToolCallFinished(call_id, name, shown_result, error, duration, status))  # type: ignore[arg-type]
            content = _cut(result or "", MODEL_RESULT_CHARS) if status == "ok" else (tell or ERROR_PREFIX + str(error))
            if images and not self.shows_images():
                content += f"\n\n[{len(images)} image(s) not shown: this endpoint takes no images here]"
            return ToolMessage(
                content=content,
                name=name,
                tool_call_id=call_id,
                status="success" if status == "ok" else "error",
                artifact={TOOL_IMAGES: images} if images and self.shows_images() else None,
            )

        if call_id in self._invalid:
            return finish("error", error=self._invalid.pop(call_id))
        tool: BaseTool | None = request.tool
        if tool is None:
            known = ", ".join(t.name for t in self.runner.tools)
            what = f"unknown tool {name!r}" if name else "the tool call has no tool name"
            return finish("error", error=f"{what}; the tools are: {known}")
        if problem := _validate(tool, args):
            return finish("error", error=f"invalid arguments for {name}: {problem}")
        if (tool.metadata or {}).get("risky"):
            scope = approval_scope(name, args)
            description = (tool.description or "").strip().splitlines()[0] if tool.description else ""
            decision = await self.runner.approve(ApprovalRequest(call_id, name, args, scope, description))
            if decision == "headless":
                return finish(
                    "denied",
                    error=f"not run: {name} needs approval and nobody can be asked here ({scope} is not allowed)",
                    tell=f"The call to {name} was not run: it needs the user's approval, which cannot be given "
                    "here. Answer without it.",
                )
            if decision == "deny":
                return finish(
                    "denied",
                    error="denied by the user",
                    tell=f"The user denied the call to {name}. Do not call it again for this request; answer "
                    "without it.",
                )
            started = time.perf_counter()  # the tool's time starts once it may run
        timeout_s = float((tool.metadata or {}).get("timeout_s") or self.config.tool_timeout_s)
        try:
            async with asyncio.timeout(timeout_s) as limit:
                result = await handler(request)
        except TimeoutError:
            if limit.expired():
                return finish("error", error=f"{name} timed out after {timeout_s:g} s")
            return finish("error", error=f"{name} failed: TimeoutError")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the tool raised (ToolException-less tools, bugs in plugins)
            log.info("tool %s raised", name, exc_info=True)
            return finish("error", error=f"{name} failed: {_exc_line(exc)}")
        if isinstance(result, ToolMessage):
            content = _text_of(result)
            if result.status == "error":
                return finish("error", error=_strip_error(content))
            return finish("ok", result=content, images=_images_of(result))
        return finish("ok", result=str(result))  # a Command: nothing vt-tui's tools return


class _VtMiddleware(AgentMiddleware):
    """Hands model and tool calls to the turn's :class:`_Run` (the run context)."""

    async def awrap_model_call(self, request: ModelRequest, handler: Any) -> Any:
        return await request.runtime.context.model_call(request, handler)

    async def awrap_tool_call(self, request: Any, handler: Any) -> Any:
        return await request.runtime.context.tool_call(request, handler)


# --- helpers -----------------------------------------------------------------------------------------


def _text_of(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.text)


def _call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def _spec(tool: BaseTool) -> tp.ToolSpec:
    function = convert_to_openai_tool(tool)["function"]
    return tp.ToolSpec(tool.name, function.get("description", ""), function.get("parameters", {}))


def _usage(message: AIMessage) -> dict[str, Any] | None:
    usage = message.usage_metadata
    if usage and usage.get("output_tokens"):
        return {"completion_tokens": usage["output_tokens"], "prompt_tokens": usage.get("input_tokens")}
    token_usage = message.response_metadata.get("token_usage")
    if isinstance(token_usage, dict) and token_usage.get("completion_tokens"):
        return token_usage
    return None


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
            text = tp.result_message(message.name or "tool", content)
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
