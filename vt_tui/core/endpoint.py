"""One OpenAI-compatible endpoint: a single reused ``AsyncOpenAI`` client, its models and its profile."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from vt_tui.core import profiles
from vt_tui.core.errors import (
    EndpointError,
    ErrorKind,
    before_reply,
    classify,
    context_overflow,
    from_status,
    model_gone,
    no_reply,
    overflow_in,
    stalled,
)
from vt_tui.core.messages import shape
from vt_tui.core.params import DEFAULT_MAX_TOKENS
from vt_tui.core.profiles import GENERIC, Detection, Engine, Thinking
from vt_tui.core.reasoning import ThinkSplitter

if TYPE_CHECKING:
    from pathlib import Path

    import httpx2
    import openai

    from vt_tui.core.context import ContextLimit

log = logging.getLogger(__name__)
T = TypeVar("T")
PLACEHOLDER_KEY = "sk-no-key"  # local servers accept any key; the SDK insists on one
PROBE_TIMEOUT_S = 2.0  # each detection probe (a GET of a small route on the same server)
CONNECT_TIMEOUT_S = 10.0
LOG_WAIT_S = 0.5  # a server that cut a stream may write why to its log just after: read it for this long


def is_stale_connection(exc: BaseException) -> bool:
    """True for a kept-alive connection the server had already dropped (reset, or closed without a reply).

    LLaMA-Factory's 500s close the connection after the reply without ``Connection: close``; a request sent
    on it before the close is seen fails this way, before any byte of a reply. Sending it again is safe.
    """
    import httpx2
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIConnectionError):  # the SDK's wrapper; stream_chat's own requests raise httpx2's
        exc = exc.__cause__
    if isinstance(exc, httpx2.ConnectError):  # nothing listens: not stale, just down
        return False
    return isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError | httpx2.WriteError)


class _Watchdog:
    """Ends a stream that has gone quiet: no line for ``first_s`` after the request (no first byte), or for
    ``idle_s`` between lines once it started (a stall). It cancels the reading task, as ``asyncio.timeout`` does,
    from one timer re-armed lazily: a line costs one clock read, not a timer reschedule. While a chunk is out with
    the consumer (``away``) it never fires: the cancellation must land in our read, and a stream the consumer
    stopped reading must not cancel its task later."""

    __slots__ = ("_handle", "_loop", "_task", "away", "fired", "idle_s", "seen_at")

    def __init__(self, first_s: float, idle_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.idle_s = idle_s
        self.seen_at: float | None = None  # loop time of the last line
        self.fired: str | None = None  # "first" or "idle"
        self.away = False
        self._handle = self._loop.call_at(self._loop.time() + first_s, self._check)

    def line(self) -> None:
        now = self._loop.time()
        if self.seen_at is None:  # the first line: from now on the idle timeout counts
            self._handle.cancel()
            self._handle = self._loop.call_at(now + self.idle_s, self._check)
        self.seen_at = now

    def _check(self) -> None:
        if self.away:
            self._handle = self._loop.call_at(self._loop.time() + self.idle_s, self._check)
            return
        if self.seen_at is not None and self._loop.time() - self.seen_at < self.idle_s:
            self._handle = self._loop.call_at(self.seen_at + self.idle_s, self._check)
            return
        self.fired = "first" if self.seen_at is None else "idle"
        assert self._task is not None
        self._task.cancel()

    def close(self) -> None:
        self._handle.cancel()

    def caused(self) -> bool:
        """After a CancelledError: whether this watchdog caused it (and nobody else cancelled the task too)."""
        return self.fired is not None and self._task is not None and self._task.uncancel() == 0


@dataclass
class StreamChunk:
    """The parts of one SSE chunk vt-tui uses, parsed without building SDK objects per token."""

    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


def parse_chunk(data: dict[str, Any]) -> StreamChunk:
    if "error" in data:
        err = data["error"]
        message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        overflow = overflow_in(message, data)
        if overflow is not None:
            raise context_overflow(overflow)
        raise EndpointError(ErrorKind.SERVER, f"The server reported an error mid-stream: {message}", "retry")
    chunk = StreamChunk(usage=data.get("usage"))
    choices = data.get("choices") or ()
    if choices:
        choice = choices[0]
        delta = choice.get("delta") or {}
        chunk.content = delta.get("content") or ""
        chunk.reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
        chunk.tool_calls = delta.get("tool_calls") or []
        chunk.finish_reason = choice.get("finish_reason")
    return chunk


class Endpoint:
    """Talks to one server. Create once per base URL and reuse: the HTTP connection stays alive."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        request_timeout: float = 120.0,
        stream_idle_timeout: float = 60.0,
        label: str | None = None,
        engine: Engine | str = Engine.AUTO,
    ) -> None:
        """``request_timeout``: for the first byte of a reply; ``stream_idle_timeout``: between bytes of a stream."""
        self.base_url = base_url.rstrip("/")
        self.label = label or self.base_url
        self._api_key = api_key or PLACEHOLDER_KEY
        self._auth_headers = {"Authorization": f"Bearer {self._api_key}"}
        self._timeout = request_timeout
        self.stream_idle_timeout = stream_idle_timeout
        self._client: openai.AsyncOpenAI | None = None
        self._http: httpx2.AsyncClient | None = None
        self._engine = engine = Engine(engine)
        self.profile, needs_listing = profiles.for_engine(engine)
        self.detection: Detection | None = (
            None
            if engine is Engine.AUTO or needs_listing
            else Detection(self.profile, (f"engine {engine} given (not detected)",))
        )
        self.models: list[str] = []
        self.listing: list[dict[str, Any]] = []  # /v1/models entries as the server sent them
        self.listing_headers: dict[str, str] = {}
        # The context window (vt_tui.core.context keeps these): the limit known without asking (the
        # context_window setting, or the n_ctx vt-tui started the embedded server with); what the server said, by
        # model; the model last asked about; whether its tokenizer route is missing; the log of a server vt-tui
        # started, where llama-cpp-python says why it cut a stream.
        self.context_window: ContextLimit | None = None
        self.context_limits: dict[str, ContextLimit | None] = {}
        self.context_model: str | None = None
        self.tokenizer_off = False
        self.server_log: Path | None = None

    def forget_server(self) -> None:
        """The server answered again after a wait (it may have been restarted, with another ``--max-model-len``
        or ``-c``): what it said of its context windows is asked again on the next turn."""
        self.context_limits.clear()
        self.tokenizer_off = False

    @property
    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import httpx2
            import openai

            timeout = httpx2.Timeout(self._timeout, connect=CONNECT_TIMEOUT_S)
            # Our own httpx client (the SDK's defaults) so detection probes share the kept-alive connection.
            self._http = openai.DefaultAsyncHttpxClient(timeout=timeout)
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, timeout=timeout, max_retries=0, http_client=self._http
            )
        return self._client

    @property
    def http(self) -> httpx2.AsyncClient:
        """The HTTP client under the SDK (same connections); requests on it send the key themselves."""
        self.client  # noqa: B018 — builds both
        assert self._http is not None
        return self._http

    def _status_error(self, response: httpx2.Response, model: str | None) -> EndpointError:
        try:
            body = response.json()
        except ValueError:
            body = None
        return from_status(response.status_code, body, response.text, self.base_url, model)

    def _secret_free(self, error: EndpointError) -> EndpointError:
        return error.without(self._api_key)

    async def _explained(self, error: EndpointError, model: str | None) -> EndpointError:
        """A 404 to a chat request for ``model``: when the listing (asked again) no longer has the model, say so and
        what the server offers now, instead of a generic "not found"."""
        if error.status != 404 or not model:
            return self._secret_free(error)
        try:
            offered = await self.list_models()
        except EndpointError:
            return self._secret_free(error)
        if model in offered:
            return self._secret_free(error)
        return self._secret_free(model_gone(self.base_url, model, offered, 404))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._http = None

    @property
    def root_url(self) -> str:
        """The server root: routes like /metrics, /version, /health live there, not under /v1."""
        return profiles.server_root(self.base_url)

    async def fetch(self, url: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int, Any]:
        """GET ``url`` (this server's key sent) on the shared connection: (status, parsed JSON or text).

        Raises :class:`EndpointError` when nothing answers.
        """
        return await self._side_request("GET", url, None, timeout)

    async def post_json(self, url: str, body: dict[str, Any], timeout: float = PROBE_TIMEOUT_S) -> tuple[int, Any]:
        """POST ``body`` to ``url`` (a tokenizer, Ollama's /api/show), as :meth:`fetch` GETs."""
        return await self._side_request("POST", url, body, timeout)

    async def _side_request(self, method: str, url: str, body: Any, timeout: float) -> tuple[int, Any]:
        try:
            response = await self.http.request(
                method, url, json=body, headers=self._auth_headers, timeout=timeout, follow_redirects=False
            )
        except Exception as exc:
            kind = ErrorKind.TIMEOUT if "Timeout" in type(exc).__name__ else ErrorKind.CONNECTION
            raise self._secret_free(EndpointError(kind, f"No answer from {url} ({type(exc).__name__})")) from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def _log_size(self) -> int | None:
        try:
            return self.server_log.stat().st_size if self.server_log else None
        except OSError:
            return None

    async def _cut_because(self, log_at: int | None) -> EndpointError | None:
        """An overflow the server wrote to its log after ``log_at`` (its size when the request went out)."""
        if self.server_log is None or log_at is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOG_WAIT_S
        while True:
            try:
                with self.server_log.open("rb") as log:
                    log.seek(log_at)
                    written = log.read().decode(errors="replace")
            except OSError:
                return None
            overflow = overflow_in(written)
            if overflow is not None:
                return context_overflow(overflow)
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def request(self, send: Callable[[], Awaitable[T]], model: str | None = None) -> T:
        """``await send()`` (one SDK request), sent once more if a dropped kept-alive connection failed it.

        Any failure is raised as an :class:`EndpointError` (``model`` goes into its 404 advice).
        """
        for attempt in (1, 2):
            try:
                return await send()
            except Exception as exc:
                if attempt == 1 and is_stale_connection(exc):
                    log.info("%s dropped the kept-alive connection before replying; sending again", self.base_url)
                    continue
                raise self._secret_free(classify(exc, self.base_url, model)) from None
        raise AssertionError("unreachable")

    async def list_models(self) -> list[str]:
        """Ids from ``/v1/models`` (cached on the endpoint); also picks the engine profile when auto."""
        raw = await self.request(self.client.models.with_raw_response.list)
        page = raw.parse()
        self.listing = [m.model_dump() for m in page.data]
        self.listing_headers = {k.lower(): v for k, v in raw.headers.items()}
        self.models = [m["id"] for m in self.listing]
        if self._engine is Engine.AUTO:
            if self.detection is None:
                self.detection = await self._detect()
                self.profile = self.detection.profile
                log.info("engine profile for %s: %s", self.base_url, self.detection.describe())
        elif self.detection is None:  # llama-cpp given: the listing says which of its two servers
            self.profile = profiles.refine(self.profile, self.listing, self.listing_headers)
            seen = profiles.from_listing(self.listing, self.listing_headers)
            shows = f"; the listing shows {seen.profile.title} ({seen.reasons[0]})" if seen else ""
            self.detection = Detection(self.profile, (f"engine {self._engine} given{shows}",))
        return self.models

    async def _detect(self) -> Detection:
        """The engine from the listing; when that is not conclusive, one or two short GETs (done once)."""
        found = profiles.from_listing(self.listing, self.listing_headers)
        if found is not None:
            return found
        probed: list[str] = []
        for path in profiles.probe_plan(self.listing_headers):
            probed.append(path)
            try:
                status, body = await self.fetch(self.root_url + path)
            except EndpointError:
                break
            found = profiles.from_probe(path, status, body)
            if found is not None:
                return replace(found, probed=tuple(probed))
        weak = profiles.guess(self.listing, self.listing_headers)
        tried = f"; probed {', '.join(probed)}: no match" if probed else ""
        return Detection(weak.profile, (weak.reasons[0] + tried,), tuple(probed))

    async def detect_profile(self) -> Detection:
        """The engine profile and why, detecting it (once) if needed. Never raises: unknown → generic."""
        if self.detection is None:
            try:
                await self.list_models()
            except EndpointError as exc:
                failed = Detection(GENERIC, (f"/v1/models failed ({exc.message})",))
                self.profile = GENERIC
                if exc.status is None:  # not reachable now: try again next time
                    return failed
                self.detection = failed
        assert self.detection is not None
        return self.detection

    async def resolve_model(self, preferred: str | None) -> str:
        if preferred:
            if self.detection is None:  # detect the engine before the first request is shaped for it
                await self.detect_profile()
            return preferred
        models = self.models or await self.list_models()
        if not models:
            raise EndpointError(ErrorKind.NOT_FOUND, f"{self.base_url} lists no models", "pass --model")
        return models[0]

    def request_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Drop what this engine breaks on; ``None`` values are not sent; ``max_tokens`` always is. ``thinking``
        becomes the fields this engine takes for it (its profile's :class:`~vt_tui.core.profiles.ThinkingSwitch`)."""
        out = {k: v for k, v in params.items() if v is not None}
        out.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        thinking = Thinking(out.pop("thinking", Thinking.AUTO))
        fields = self.profile.thinking.fields(thinking)
        if fields is None:
            log.info("not sending thinking %s to %s: %s", thinking, self.profile.title, self.profile.thinking.note)
        else:
            out.update(fields)
        if self.profile.drop_zero_penalties:
            for key in ("presence_penalty", "frequency_penalty"):
                if out.get(key) == 0:
                    out.pop(key)
                    log.info("not sending %s 0 to %s (it breaks on it)", key, self.profile.title)
        return out

    def shape_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages within this engine's role rules (see :func:`vt_tui.core.messages.shape`)."""
        return shape(messages, self.profile)

    async def stream_chat(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> AsyncIterator[StreamChunk]:
        """Yield chunks of a streamed chat completion; raise :class:`EndpointError` on any failure.

        A think block leading the reply's ``content`` comes out as ``reasoning``, like the engines that send
        thinking in a field of their own (:class:`~vt_tui.core.reasoning.ThinkSplitter`).
        """
        if self.detection is None:
            await self.detect_profile()
        extra: dict[str, Any] = {}
        if self.profile.usage_in_stream:
            extra["stream_options"] = {"include_usage": True}
        if params.get("tools") and not self.profile.stream_tool_calls:
            raise EndpointError(
                ErrorKind.BAD_REQUEST,
                f"{self.profile.title} cannot stream a reply that may call tools",
                "send tool turns with a non-streamed completion",
            )
        body = {
            "model": model,
            "messages": self.shape_messages(messages),
            "stream": True,
            **extra,
            **self.request_params(params),
        }
        import httpx2

        # Read timeouts are the watchdog's: request_timeout until the first line, then stream_idle_timeout.
        timeout = httpx2.Timeout(connect=CONNECT_TIMEOUT_S, read=None, write=self._timeout, pool=self._timeout)
        url, headers = self.base_url + "/chat/completions", self._auth_headers
        watchdog = _Watchdog(self._timeout, self.stream_idle_timeout)
        splitter = ThinkSplitter()
        done = finished = False
        log_at = self._log_size()
        try:
            for attempt in (1, 2):
                opened = False
                try:
                    # httpx directly, not the SDK: building the request through it cost ~1.8 ms of every TTFT.
                    async with self.http.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
                        opened = True
                        if response.status_code >= 400:
                            await response.aread()
                            raise self._status_error(response, model)
                        async for line in response.aiter_lines():
                            watchdog.line()
                            if done or not line.startswith("data:"):
                                continue  # read to the end even after [DONE], so the connection can be reused
                            data = line[5:].strip()
                            if data == "[DONE]":
                                done = True
                                continue
                            chunk = parse_chunk(json.loads(data))
                            if chunk.content and not splitter.passing:
                                thought, chunk.content = splitter.feed(chunk.content)
                                chunk.reasoning += thought
                            finished = finished or chunk.finish_reason is not None
                            watchdog.away = True
                            yield chunk
                            watchdog.away = False
                    break
                except EndpointError:
                    raise
                except asyncio.CancelledError:
                    if not watchdog.caused():
                        raise
                    if watchdog.fired == "first":
                        raise no_reply(self.base_url) from None
                    raise stalled(self.base_url, self.stream_idle_timeout) from None
                except Exception as exc:
                    if attempt == 1 and not opened and is_stale_connection(exc):
                        log.info("%s dropped the kept-alive connection before replying; sending again", self.base_url)
                        continue
                    if not opened and type(exc).__module__.startswith("httpx"):
                        raise before_reply(exc, self.base_url) from None
                    raise await self._cut_because(log_at) or classify(exc, self.base_url, model) from None
        except EndpointError as exc:
            raise await self._explained(exc, model) from None
        finally:
            watchdog.close()
        if not (done or finished):
            raise await self._cut_because(log_at) or EndpointError(
                ErrorKind.STREAM_CUT, f"{self.base_url} ended the stream before the reply finished", "retry"
            )
        thought, answer = splitter.finish()
        if thought or answer:
            yield StreamChunk(content=answer, reasoning=thought)

    async def complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict:
        """One non-streamed chat completion, as a plain dict."""
        if self.detection is None:
            await self.detect_profile()
        body = {"model": model, "messages": self.shape_messages(messages), "stream": False}
        try:
            result = await self.request(
                lambda: self.client.chat.completions.create(**body, **self.request_params(params)), model
            )
        except EndpointError as exc:
            raise await self._explained(exc, model) from None
        return result.model_dump()
