"""From settings to a live endpoint: the configured URL, or the embedded server started on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vt_tui.core.endpoint import Endpoint
from vt_tui.engines.embedded import EmbeddedServer
from vt_tui.settings import Settings


@dataclass
class Connection:
    endpoint: Endpoint
    server: EmbeddedServer | None = None

    async def aclose(self) -> None:
        await self.endpoint.aclose()
        if self.server:
            self.server.stop()


def embedded_server(settings: Settings, *, shared: bool = False) -> EmbeddedServer:
    """``shared``: several clients use it at once (``vt-tui web``): their requests queue, none cuts another's."""
    return EmbeddedServer(
        settings.gguf,
        threads=settings.threads,
        n_gpu_layers=settings.n_gpu_layers,
        ctx_size=settings.ctx_size,
        interrupt=not shared,
    )


async def connect(settings: Settings, progress: Callable[[float], None] | None = None) -> Connection:
    """Return a ready endpoint. Starting the embedded server can take seconds: ``progress`` hears about it."""
    if not settings.embedded:
        endpoint = Endpoint(
            settings.base_url or "",
            settings.api_key,
            request_timeout=settings.request_timeout,
            stream_idle_timeout=settings.stream_idle_timeout,
            engine=settings.engine,
        )
        return Connection(endpoint)
    server = embedded_server(settings)
    server.start()
    try:
        await server.wait_ready(settings.startup_timeout, progress)
    except BaseException:
        server.stop()
        raise
    endpoint = Endpoint(
        server.base_url,
        None,
        request_timeout=settings.request_timeout,
        stream_idle_timeout=settings.stream_idle_timeout,
        label=server.label,
        engine="llama-cpp" if settings.engine == "auto" else settings.engine,
    )
    return Connection(endpoint, server)
