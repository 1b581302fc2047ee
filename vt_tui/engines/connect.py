"""From settings to a live endpoint: the configured URL, or the embedded server started on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vt_tui.core.context import ContextLimit
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
        n_ctx=settings.n_ctx,
        interrupt=not shared,
    )


def setting_window(settings: Settings) -> ContextLimit | None:
    """The ``context_window`` setting as a limit: it wins over what any server says."""
    if settings.context_window is None:
        return None
    return ContextLimit(settings.context_window, "your context_window setting")


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
        endpoint.context_window = setting_window(settings)
        return Connection(endpoint)
    server = embedded_server(settings)
    server.start()
    try:
        await server.wait_ready(settings.startup_timeout, progress)
    except BaseException:
        server.stop()
        raise
    return Connection(embedded_endpoint(server, settings), server)


def embedded_endpoint(server: EmbeddedServer, settings: Settings) -> Endpoint:
    """The endpoint of a started embedded server: its window known (the setting still wins), its log read for
    what llama-cpp-python says only there."""
    endpoint = Endpoint(
        server.base_url,
        None,
        request_timeout=settings.request_timeout,
        stream_idle_timeout=settings.stream_idle_timeout,
        label=server.label,
        engine="llama-cpp" if settings.engine == "auto" else settings.engine,
    )
    endpoint.context_window = setting_window(settings) or server.window
    endpoint.server_log = server.log_path
    return endpoint
