"""Runs ``vt-tui web``: an aiohttp server whose websocket hands each browser tab to its own ``vt-tui`` process.

textual-serve does the per-tab work (:meth:`textual_serve.server.Server.handle_websocket` starts the app command
with Textual's web driver and relays its screen and the keys); this module owns everything around it:

- the routes: ``/`` (our page, only with the token) and ``/ws/{token}`` (the token in the path, as textual.js
  appends ``?width=…&height=…`` to the URL it is given); ``/static`` (textual.js, xterm.css, the font) and
  ``/download/{key}`` (a file a tab delivers, under a random key) are textual-serve's;
- URLs built from the request's ``Host``, so a page reached through ``ssh -L 9000:…`` talks to port 9000;
- no access log (request lines carry the token) and :class:`~vt_tui.web.guard.RedactToken` on the log file;
- the tabs' settings: the flags given to ``vt-tui web`` become their ``$VT_TUI_*`` variables (the environment,
  not the command line: ``ps`` shows command lines to every user, and ``--api-key`` may be among them);
- the embedded default started once, here: each tab is pointed at its base URL instead of starting its own.
"""

from __future__ import annotations

import asyncio
import html
import os
import shlex
import signal
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import WSCloseCode, web
from textual_serve.server import Server

from vt_tui.core.errors import VtError
from vt_tui.engines.connect import embedded_server
from vt_tui.engines.embedded import EmbeddedServer
from vt_tui.settings import ENV_ALIASES, Settings, env_var
from vt_tui.web.banner import banner
from vt_tui.web.guard import RedactToken, new_token, same_origin, token_matches

HERE = Path(__file__).parent
SHUTDOWN_S = 5.0  # after Ctrl+C: each tab's websocket is closed, and its app has this long to quit
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",  # a link the app opens must not carry the page's URL (and token) away
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",  # no other site frames it to steer clicks
}


def tab_command(config: Path | None) -> str:
    """The shell command textual-serve runs for each tab: this Python's vt-tui (:mod:`.tab`), ``exec`` so that it
    is our child (it watches for us to go) and signals reach it."""
    words = [sys.executable, "-m", "vt_tui.web.tab", *(["--config", str(config)] if config else [])]
    return "exec " + shlex.join(words)


def tab_environment(
    given: Mapping[str, Any], embedded_url: str | None, embedded_window: int | None = None
) -> dict[str, str | None]:
    """Changes to the environment every tab's vt-tui starts with (``None``: unset).

    ``given``: the settings given as flags to ``vt-tui web``, as parsed (strings, or booleans for switches);
    they keep their rank over ``$VT_TUI_*`` and config.toml by becoming ``$VT_TUI_*``. With the embedded default
    the tabs get its base URL, and no API key (one set for another endpoint is not this server's business).
    ``embedded_window``: the embedded server's n_ctx, given to the tabs as their ``context_window`` (when none is
    set): to a tab it is just a llama-cpp-python server, which does not say its window.
    """
    changes: dict[str, str | None] = {
        env_var(name): ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in given.items()
    }
    if embedded_url:
        changes[env_var("base_url")] = embedded_url
        changes[env_var("api_key")] = changes[ENV_ALIASES["api_key"]] = None
    if embedded_window:
        changes[env_var("context_window")] = str(embedded_window)
    return changes


def apply_environment(changes: Mapping[str, str | None]) -> None:
    """textual-serve starts each tab with a copy of our environment, so the changes go into ours."""
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class WebServer:
    """The aiohttp application: token-guarded page and websocket around textual-serve's per-tab processes."""

    def __init__(self, command: str, token: str) -> None:
        self.token = token
        self.tabs = Server(command, title="vt-tui")
        self.page_template = Template((HERE / "page.html").read_text(encoding="utf-8"))
        self.refused_page = (HERE / "refused.html").read_text(encoding="utf-8")
        self.open_tabs: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def application(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self.page),
                web.get("/ws/{token}", self.websocket),
                web.get("/download/{key}", self.tabs.handle_download),
                web.static("/static", self.tabs.statics_path),
            ]
        )
        app.on_response_prepare.append(self.prepared)
        app.on_shutdown.append(self.close_tabs)
        return app

    def refused(self) -> web.Response:
        return web.Response(
            status=403, text=self.refused_page, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def page(self, request: web.Request) -> web.Response:
        if not token_matches(self.token, request.query.get("token")):
            return self.refused()
        scheme = "wss" if request.secure else "ws"
        page = self.page_template.substitute(websocket_url=html.escape(f"{scheme}://{request.host}/ws/{self.token}"))
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not token_matches(self.token, request.match_info["token"]):
            return self.refused()
        if not same_origin(request.headers.get("Origin"), request.host):
            return self.refused()
        return await self.tabs.handle_websocket(request)

    async def prepared(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every response gets the security headers; a tab's websocket is also kept, to be closed on shutdown."""
        response.headers.update(SECURITY_HEADERS)
        if isinstance(response, web.WebSocketResponse):
            self.open_tabs.add(response)

    async def close_tabs(self, app: web.Application) -> None:
        """On shutdown, close each tab's websocket: textual-serve then tells the tab's vt-tui to quit and waits
        for it. (Cancelling the handlers instead leaves each close waiting 10 s for a reply no one reads.)"""
        await asyncio.gather(
            *(tab.close(code=WSCloseCode.GOING_AWAY, message=b"vt-tui web stopped") for tab in list(self.open_tabs))
        )


async def start_embedded(settings: Settings) -> EmbeddedServer:
    """The embedded llama.cpp server, started once for every tab, with what starting it looks like."""
    server = embedded_server(settings, shared=True)
    print(f"vt-tui web: starting the embedded model ({server.gguf.name})…", flush=True)
    server.start()
    try:
        await server.wait_ready(settings.startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


async def listen(runner: web.AppRunner, host: str, port: int) -> None:
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise VtError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", "try another --port") from exc


async def stopped() -> None:
    """Until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def serve(
    settings: Settings, host: str, port: int, config: Path | None, given: Mapping[str, Any], token: str
) -> None:
    """Listen first (a taken port fails before a model loads), then start the embedded server if it is the
    endpoint: no tab can start before it is ready, as no one has the token until the banner is printed."""
    application = WebServer(tab_command(config), token).application()
    runner = web.AppRunner(application, access_log=None, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    embedded: EmbeddedServer | None = None
    try:
        await listen(runner, host, port)
        if settings.embedded:
            embedded = await start_embedded(settings)
        window = embedded.n_ctx if embedded and settings.context_window is None else None
        apply_environment(tab_environment(given, embedded.base_url if embedded else None, window))
        endpoint = f"{embedded.label} at {embedded.base_url}" if embedded else settings.base_url or ""
        print(banner(host, port, token, endpoint, str(settings.database_path()), os.environ), flush=True)
        await stopped()
    finally:
        await runner.cleanup()
        if embedded is not None:
            embedded.stop()


def run(settings: Settings, *, host: str, port: int, config: Path | None, given: Mapping[str, Any]) -> int:
    """``vt-tui web``: the exit code. Logs go to vt-tui's log file, the token filtered out of them."""
    from vt_tui.headless import ExitCode
    from vt_tui.logs import log_to_file

    log_to_file()
    token = new_token()
    RedactToken(token).install()
    try:
        asyncio.run(serve(settings, host, port, config, given, token))
    except VtError as exc:  # the embedded server did not start, or the port is taken
        print(f"vt-tui web: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except KeyboardInterrupt:  # while the embedded model started (it is stopped on the way out)
        return ExitCode.CANCELLED
    return ExitCode.OK
