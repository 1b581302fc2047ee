"""One OpenAI-compatible endpoint: a single reused ``AsyncOpenAI`` client, its models and its profile."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vt_tui.core.errors import EndpointError, ErrorKind, classify
from vt_tui.core.profiles import GENERIC, PROFILES, EngineProfile, detect

if TYPE_CHECKING:
    import openai

PLACEHOLDER_KEY = "sk-no-key"  # local servers accept any key; the SDK insists on one


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
        label: str | None = None,
        engine: str = "auto",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label or self.base_url
        self._api_key = api_key or PLACEHOLDER_KEY
        self._timeout = request_timeout
        self._client: openai.AsyncOpenAI | None = None
        self._engine = engine
        self.profile: EngineProfile = PROFILES.get(engine, GENERIC)
        self.models: list[str] = []

    @property
    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import httpx2
            import openai

            timeout = httpx2.Timeout(self._timeout, connect=10.0)
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, timeout=timeout, max_retries=0
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def list_models(self) -> list[str]:
        """Ids from ``/v1/models`` (cached on the endpoint); also picks the engine profile when auto."""
        try:
            raw = await self.client.models.with_raw_response.list()
        except Exception as exc:
            raise classify(exc, self.base_url, None) from None
        page = raw.parse()
        listing = [m.model_dump() for m in page.data]
        if self._engine == "auto":
            self.profile = detect(listing, raw.headers)
        self.models = [m["id"] for m in listing]
        return self.models

    async def resolve_model(self, preferred: str | None) -> str:
        if preferred:
            return preferred
        models = self.models or await self.list_models()
        if not models:
            raise EndpointError(ErrorKind.NOT_FOUND, f"{self.base_url} lists no models", "pass --model")
        return models[0]

    def request_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Drop what this engine breaks on; ``None`` values are not sent."""
        out = {k: v for k, v in params.items() if v is not None}
        if self.profile.drop_zero_penalties:
            for key in ("presence_penalty", "frequency_penalty"):
                if out.get(key) == 0:
                    out.pop(key)
        return out

    async def stream_chat(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> AsyncIterator[StreamChunk]:
        """Yield chunks of a streamed chat completion; raise :class:`EndpointError` on any failure."""
        extra: dict[str, Any] = {}
        if self.profile.usage_in_stream:
            extra["stream_options"] = {"include_usage": True}
        body = {"model": model, "messages": messages, "stream": True, **extra, **self.request_params(params)}
        done = finished = False
        try:
            async with self.client.chat.completions.with_streaming_response.create(**body) as response:
                async for line in response.iter_lines():
                    if done or not line.startswith("data:"):
                        continue  # read to the end even after [DONE], so the connection can be reused
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        continue
                    chunk = parse_chunk(json.loads(data))
                    finished = finished or chunk.finish_reason is not None
                    yield chunk
        except EndpointError:
            raise
        except Exception as exc:
            raise classify(exc, self.base_url, model) from None
        if not (done or finished):
            raise EndpointError(
                ErrorKind.STREAM_CUT, f"{self.base_url} ended the stream before the reply finished", "retry"
            )

    async def complete(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict:
        """One non-streamed chat completion, as a plain dict."""
        try:
            result = await self.client.chat.completions.create(
                model=model, messages=messages, stream=False, **self.request_params(params)
            )
        except Exception as exc:
            raise classify(exc, self.base_url, model) from None
        return result.model_dump()
