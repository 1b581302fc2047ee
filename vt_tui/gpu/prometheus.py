"""Scraping: GPU exporters (a fleet of hosts) and serving engines over HTTP, one shared AsyncClient.

Each URL is read as whatever answers there: a dcgm-exporter or nvitop-exporter (its GPUs, and one
HostStatus saying whether the host answered and when it last did), an engine's `/metrics` (plus
llama-server's `/slots` and `/props`, vLLM's `/v1/models` for the context window), or Ollama's
`/api/ps`. A URL that fails becomes an error row or an unreachable host, never an exception.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from vt_tui.core.context import SIDE_ROUTES_OFF, props_context
from vt_tui.gpu.engines import ENGINE_NAMES, engine_metrics, llamacpp_slots, models_context, ollama_ps
from vt_tui.gpu.exporters import exporter_gpus
from vt_tui.gpu.models import EngineMetrics, GpuSample, HostSource, HostStatus, PrometheusReading
from vt_tui.gpu.promtext import parse_series

FETCH_TIMEOUT_S = 1.0
EXPORTER_PORTS = {9400: HostSource.DCGM, 5050: HostSource.NVITOP}  # defaults, for URLs that never answered


def _reason(error: Exception) -> str:
    """A short why for a failed scrape, e.g. "Connection refused" rather than httpx's wrapper text."""
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    cause: BaseException = error
    while (inner := cause.__cause__ or cause.__context__) is not None:
        cause = inner
    if isinstance(cause, OSError) and cause.errno and cause.errno > 0:
        return os.strerror(cause.errno)
    return str(error) or type(error).__name__


def metrics_root(url: str) -> str:
    """`http://host:8080/metrics` → `http://host:8080`, where an engine's other routes live."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/").removesuffix("/metrics")
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass
class _Url:
    """What is remembered of one URL between scrapes."""

    kind: HostSource | None = None  # an exporter's kind once it has answered; None for an engine
    host: str | None = None  # the exporter's host name, kept for when it stops answering
    last_seen: float | None = None
    previous: tuple[float, EngineMetrics] | None = None  # for counter rates
    slots_off: bool = False  # llama-server without /slots
    context_limit: int | None = None  # from /props or /v1/models, asked once
    context_asked: bool = False


class PrometheusSource:
    """Scrapes every URL concurrently each round; see the module doc for what each may be."""

    def __init__(
        self,
        urls: Sequence[str],
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.urls = tuple(urls)
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._state = {url: _Url(kind=EXPORTER_PORTS.get(urlsplit(url).port or 0)) for url in self.urls}

    async def fetch(self) -> PrometheusReading:
        """One round: remote GPUs, engines, and a status per exporter."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=FETCH_TIMEOUT_S)
        client = self._client
        results = await asyncio.gather(*(self._fetch_one(client, url) for url in self.urls))
        return PrometheusReading(
            tuple(g for gpus, _, _ in results for g in gpus),
            tuple(e for _, e, _ in results if e is not None),
            tuple(h for _, _, h in results if h is not None),
        )

    async def aclose(self) -> None:
        """Close the client if this source made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _fetch_one(
        self, client: httpx.AsyncClient, url: str
    ) -> tuple[tuple[GpuSample, ...], EngineMetrics | None, HostStatus | None]:
        state = self._state[url]
        try:
            if urlsplit(url).path.rstrip("/").endswith("/api/ps"):
                data = await _json(client, url)
                return (), ollama_ps(url, data if isinstance(data, dict) else {}), None
            response = await client.get(url)
            response.raise_for_status()
            series = parse_series(response.text)
        except (httpx.HTTPError, ValueError) as error:
            return (), *self._failed(url, state, _reason(error))
        now = self._clock()
        kind, gpus = exporter_gpus(series, urlsplit(url).hostname)
        host = None
        if kind is not None:
            state.kind, state.last_seen = kind, now
            state.host = gpus[0].host if gpus else state.host or urlsplit(url).hostname
            host = HostStatus(state.host or url, kind, url, None, now, len(gpus))
        engine = engine_metrics(url, series, now, state.previous)
        if engine is not None:
            state.previous = (now, engine)
            engine = await self._side_routes(client, url, state, engine)
        elif kind is None:
            engine = EngineMetrics(url, error=f"no {', '.join(ENGINE_NAMES[:-1])} or GPU exporter metrics")
        return gpus, engine, host

    def _failed(self, url: str, state: _Url, why: str) -> tuple[EngineMetrics | None, HostStatus | None]:
        """An exporter that stops answering is an unreachable host; anything else is an engine error row."""
        if state.kind is None:
            return EngineMetrics(url, error=why), None
        name = state.host or urlsplit(url).hostname or url
        return None, HostStatus(name, state.kind, url, why, state.last_seen)

    async def _side_routes(
        self, client: httpx.AsyncClient, url: str, state: _Url, engine: EngineMetrics
    ) -> EngineMetrics:
        """Context figures that engines keep outside /metrics (failures here only leave them out)."""
        root = metrics_root(url)
        if engine.engine == "llama.cpp" and not state.slots_off:
            try:
                slots = await _json(client, root + "/slots")
                if isinstance(slots, list):
                    engine = llamacpp_slots(engine, slots)
            except httpx.HTTPStatusError as error:
                state.slots_off = error.response.status_code in SIDE_ROUTES_OFF
            except (httpx.HTTPError, ValueError):
                pass
        if engine.context_limit is None and engine.engine in ("llama.cpp", "vLLM"):
            if not state.context_asked:
                llama = engine.engine == "llama.cpp"
                route, read = ("/props", props_context) if llama else ("/v1/models", models_context)
                try:
                    state.context_limit = read(await _json(client, root + route))
                    state.context_asked = True
                except httpx.HTTPStatusError:
                    state.context_asked = True
                except (httpx.HTTPError, ValueError, AttributeError):
                    pass
            engine = replace(engine, context_limit=state.context_limit)
        return engine


async def _json(client: httpx.AsyncClient, url: str) -> Any:
    response = await client.get(url)
    response.raise_for_status()
    return response.json()
