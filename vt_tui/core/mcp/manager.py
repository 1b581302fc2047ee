"""The MCP servers of one vt-tui run: started in the background, watched, stopped with it.

:meth:`McpManager.start` returns at once: each enabled server gets a task that connects (stdio: runs the command
behind :mod:`.guard`; HTTP: streamable HTTP or SSE), initialises the session and lists the tools, all within the
server's ``startup_timeout_s``. The app calls it after its first frame; ``ask``, ``doctor`` and ``vt-tui mcp``
then await :meth:`McpManager.wait_started`. Each server has a typed :class:`ServerStatus`; listeners hear every
change, so one that fails to start (an unset ``${VAR}``, a missing command, an exit, no answer in time) or crashes
later (its connection ends) is reported once, by name, and logged once; the others go on. A stdio server's stderr
goes to ``mcp-NAME.log`` in the state dir, and its last line is quoted when it fails.

:meth:`McpManager.aclose` stops them all (the SDK closes a stdio server's stdin, then ends its process group); if
vt-tui dies without it, the guard ends the group. Nothing restarts a server that failed: its status says why.

The ``mcp`` SDK (about a second to import) is imported in a worker thread by the first server task.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vt_tui import paths
from vt_tui.core.mcp import guard
from vt_tui.core.mcp import tools as mcp_tools
from vt_tui.core.mcp.config import McpConfigError, ServerConfig, Transport

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool
    from mcp import ClientSession, types

    from vt_tui.core.agent.registry import ToolRegistry
    from vt_tui.settings import Settings

log = logging.getLogger(__name__)
GUARD = Path(__file__).with_name("guard.py")
STOP_TIMEOUT_S = 8.0  # the SDK's own stop: 2 s for the server to leave after its stdin closes, 2 s after SIGTERM
LOG_KEEP_BYTES = 1_000_000  # a server log past this is started afresh
RUN_MARK = "--- vt-tui "  # starts the line written in a server's log before each run
HTTP_TIMEOUT = (30.0, 300.0)  # connect/write, read: the SDK's defaults (a response stream may stay open)


class ServerState(StrEnum):
    DISABLED = "disabled"  # enabled = false in its config
    STARTING = "starting"  # (or about to): connecting, initialising, listing tools
    READY = "ready"
    FAILED = "failed"  # never became ready
    CRASHED = "crashed"  # was ready, then its connection ended
    STOPPED = "stopped"  # stopped with vt-tui


@dataclass(frozen=True)
class ToolInfo:
    name: str  # what the model sees: server__tool
    tool: str  # the server's own name
    description: str

    @property
    def first_line(self) -> str:
        """The description's first line (listings show one line per tool)."""
        return self.description.splitlines()[0] if self.description else ""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    transport: Transport
    target: str  # the command or URL, ${VAR} unexpanded
    trusted: bool
    state: ServerState
    error: str | None = None
    tools: tuple[ToolInfo, ...] = ()
    seconds: float | None = None  # from start to ready
    log_path: Path | None = None  # stdio: its stderr

    @property
    def summary(self) -> str:
        """One line: "ready in 0.42 s, 3 tools" / "failed: …"."""
        if self.state is ServerState.READY:
            count = f"{len(self.tools)} tool{'s' if len(self.tools) != 1 else ''}"
            return f"ready in {self.seconds:.2f} s, {count}" if self.seconds is not None else f"ready, {count}"
        return f"{self.state.value}: {self.error}" if self.error else self.state.value

    @property
    def trust_words(self) -> str:
        return "trusted: its tools run without asking" if self.trusted else "asks before each tool call"


Listener = Callable[[ServerStatus], None]


class McpManager:
    """Starts, watches and stops the configured servers; calls their tools."""

    def __init__(
        self,
        servers: Iterable[ServerConfig],
        *,
        log_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.configs = {server.name: server for server in servers}
        self._log_dir = log_dir
        self._environ = environ
        self._status = {name: self._initial(config) for name, config in self.configs.items()}
        self._listeners: list[Listener] = []
        self._sessions: dict[str, ClientSession] = {}
        self._listed: dict[str, list[types.Tool]] = {}
        self._built: dict[str, list[BaseTool]] = {}
        self._names: dict[str, str] = {}  # model name -> server, across servers
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._feeding: set[asyncio.Task[None]] = set()
        self._ended: set[str] = set()  # servers whose connection ended on their side
        self._stopping = False

    @classmethod
    def from_settings(cls, settings: Settings) -> McpManager:
        return cls(settings.mcp_servers)

    # status --------------------------------------------------------------------------------------
    @property
    def statuses(self) -> list[ServerStatus]:
        return list(self._status.values())

    def status(self, name: str) -> ServerStatus:
        return self._status[name]

    def subscribe(self, listener: Listener) -> None:
        """``listener(status)`` on every change of a server's status, on the event loop."""
        self._listeners.append(listener)

    def _initial(self, config: ServerConfig) -> ServerStatus:
        state = ServerState.STARTING if config.enabled else ServerState.DISABLED
        return ServerStatus(config.name, config.transport, config.target, config.trust, state)

    def _set(self, name: str, **changes: Any) -> None:
        status = self._status[name] = replace(self._status[name], **changes)
        if status.state in (ServerState.FAILED, ServerState.CRASHED):
            log.warning("MCP server %r %s", name, status.summary)
        else:
            log.info("MCP server %r %s", name, status.summary)
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("an MCP status listener failed")

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every enabled server in the background (call on the running event loop; returns at once)."""
        for name, config in self.configs.items():
            if config.enabled and name not in self._tasks:
                self._wake[name] = asyncio.Event()
                self._tasks[name] = asyncio.create_task(self._serve(config), name=f"mcp:{name}")

    async def wait_started(self) -> list[ServerStatus]:
        """Wait until no server is starting (each gives up after its ``startup_timeout_s``) and the ready ones'
        tools are in the registry :meth:`feed` serves."""
        self.start()
        while any(s.state is ServerState.STARTING for s in self._status.values()):
            pending = [t for n, t in self._tasks.items() if self._status[n].state is ServerState.STARTING]
            changed = asyncio.get_running_loop().create_future()

            def wake(_status: ServerStatus, changed: asyncio.Future[None] = changed) -> None:
                if not changed.done():
                    changed.set_result(None)

            self.subscribe(wake)
            try:
                await asyncio.wait([changed, *pending], return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._listeners.remove(wake)
        if self._feeding:  # ready servers' tools on their way to a registry
            await asyncio.wait(list(self._feeding))
        return self.statuses

    async def aclose(self) -> None:
        """Stop every server: graceful first (the SDK's own shutdown), cancelled after :data:`STOP_TIMEOUT_S`."""
        self._stopping = True
        for wake in self._wake.values():
            wake.set()
        tasks = [t for t in self._tasks.values() if not t.done()]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=STOP_TIMEOUT_S)

    async def _serve(self, config: ServerConfig) -> None:
        name = config.name
        started = time.monotonic()
        errlog = self._open_log(config) if config.transport is Transport.STDIO else None
        try:
            await asyncio.to_thread(importlib.import_module, "mcp")
            from mcp import ClientSession

            resolved = config.resolved(self._environ)  # secrets: for the connection only, never in messages
            async with contextlib.AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout(config.startup_timeout_s):
                        read, write = await _connect(stack, resolved, errlog)
                        read = await _watched(stack, read, lambda: self._lost(name))
                        session = await stack.enter_async_context(ClientSession(read, write))
                        await session.initialize()
                        listed = await _list_tools(session)
                    self._sessions[name] = session
                    self._ready(config, listed, time.monotonic() - started)
                    await self._wake[name].wait()
                    if name in self._ended:
                        raise _Ended("the connection ended")
                except Exception as exc:
                    self._failed(name, exc, config, started, errlog)  # now: stopping the server takes seconds
                    raise
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # anyio task groups raise groups; a failing server never ends vt-tui
            self._failed(name, exc, config, started, errlog)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._wake[name].set()  # calls still waiting on this session end now
            self._sessions.pop(name, None)
            self._built.pop(name, None)
            if errlog is not None:
                errlog.close()
            if self._status[name].state in (ServerState.STARTING, ServerState.READY):
                self._set(name, state=ServerState.STOPPED, tools=())

    def _failed(
        self, name: str, exc: BaseException, config: ServerConfig, started: float, errlog: TextIO | None
    ) -> None:
        """Say once why the server failed (not starting) or crashed (after it was ready); not when we stop it."""
        state = self._status[name].state
        if state not in (ServerState.STARTING, ServerState.READY) or (self._stopping and name not in self._ended):
            return
        tail = _last_line(errlog)
        self._set(
            name,
            state=ServerState.CRASHED if state is ServerState.READY else ServerState.FAILED,
            error=f"{_why(exc, config, started)}{f' ({tail})' if tail else ''}",
            tools=(),
            log_path=Path(errlog.name) if errlog else None,
        )

    def _lost(self, name: str) -> None:
        if not self._stopping:
            self._ended.add(name)
        self._wake[name].set()

    def _open_log(self, config: ServerConfig) -> TextIO:
        folder = paths.private_dir(self._log_dir or paths.state_dir())
        path = folder / f"mcp-{mcp_tools.safe_name(config.name)}.log"
        keep = path.exists() and path.stat().st_size < LOG_KEEP_BYTES
        errlog = open(path, "a" if keep else "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by _serve
        errlog.write(f"{RUN_MARK}{time.strftime('%Y-%m-%d %H:%M:%S')} starting {config.target}\n")
        errlog.flush()
        return errlog

    def _ready(self, config: ServerConfig, listed: list[types.Tool], seconds: float) -> None:
        taken = {name for name, server in self._names.items() if server != config.name}
        infos = []
        for tool in listed:
            model_name = mcp_tools.model_name(config.name, tool.name, taken)
            taken.add(model_name)
            self._names[model_name] = config.name
            description = (tool.description or tool.title or "").strip()
            infos.append(ToolInfo(model_name, tool.name, description))
        self._listed[config.name] = listed
        self._set(config.name, state=ServerState.READY, tools=tuple(infos), seconds=seconds, error=None)

    # tools ---------------------------------------------------------------------------------------
    def langchain_tools(self, name: str) -> list[BaseTool]:
        """The ready server ``name``'s tools as LangChain tools (imports LangChain: the first call belongs in a
        worker thread); none when it is not ready."""
        status = self._status[name]
        if status.state is not ServerState.READY:
            return []
        if name not in self._built:
            names = {info.tool: info.name for info in status.tools}

            async def call(tool: str, args: dict[str, Any]) -> types.CallToolResult:
                return await self.call_tool(name, tool, args)

            self._built[name] = mcp_tools.langchain_tools(self.configs[name], self._listed[name], names, call)
        return self._built[name]

    async def call_tool(self, server: str, tool: str, args: dict[str, Any]) -> types.CallToolResult:
        """Call ``tool`` on ``server``; :class:`~.tools.McpCallError` (said for the model) when that fails.

        The call is raced against the server's end: the SDK tells a waiting request that the connection closed only
        if its session notices before it is shut, which a crash does not wait for."""
        session = self._sessions.get(server)
        if session is None:
            raise mcp_tools.McpCallError(f"the MCP server {server!r} is not running ({self._status[server].summary})")
        from mcp.shared.exceptions import McpError
        from mcp.types import CONNECTION_CLOSED, ErrorData

        call = asyncio.ensure_future(session.call_tool(tool, args))
        ended = asyncio.ensure_future(self._wake[server].wait())
        try:
            await asyncio.wait((call, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not call.done():
                call.cancel()
        try:
            if not call.done() or call.cancelled():
                raise McpError(ErrorData(code=CONNECTION_CLOSED, message="Connection closed"))
            return call.result()
        except McpError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                raise mcp_tools.McpCallError(
                    f"the MCP server {server!r} closed the connection during the call (it stopped or crashed)"
                ) from None
            raise mcp_tools.McpCallError(f"the MCP server {server!r} answered: {exc.error.message}") from None
        except (RuntimeError, ValueError) as exc:  # a result that does not fit its schema
            raise mcp_tools.McpCallError(f"the MCP server {server!r}: {_one_line(exc)}") from None

    def feed(self, registry: ToolRegistry) -> None:
        """Keep ``registry``'s MCP tools in step with the servers: a ready server's tools join it (built in a worker
        thread), a server that stops takes its tools away."""

        def changed(status: ServerStatus) -> None:
            if status.state is ServerState.READY:
                task = asyncio.create_task(self._offer(registry, status.name))
                self._feeding.add(task)
                task.add_done_callback(self._feeding.discard)
            else:
                registry.set_live(_origin(status.name), [])

        self.subscribe(changed)
        for status in self.statuses:
            changed(status)

    async def _offer(self, registry: ToolRegistry, name: str) -> None:
        built = await asyncio.to_thread(self.langchain_tools, name)
        if self._status[name].state is ServerState.READY:  # it may have crashed meanwhile
            registry.set_live(_origin(name), built)


class _Ended(Exception):
    """A ready server's connection ended (its process exited, or the HTTP stream closed)."""


def _origin(name: str) -> str:
    return f"mcp:{name}"


async def _connect(stack: contextlib.AsyncExitStack, config: ServerConfig, errlog: TextIO | None) -> tuple[Any, Any]:
    """The transport's (read, write) streams, their context on ``stack``."""
    if config.transport is Transport.STDIO:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        assert config.command is not None and errlog is not None
        search = config.env.get("PATH") or os.environ.get("PATH")
        command = shutil.which(config.command, path=search)
        if command is None:
            raise FileNotFoundError(f"command {config.command!r} not found (not a file, or not on PATH)")
        params = StdioServerParameters(
            command=sys.executable,
            args=["-I", "-S", str(GUARD), command, *config.args],
            env=dict(config.env) or None,
            cwd=config.cwd,
        )
        return await stack.enter_async_context(stdio_client(params, errlog=errlog))
    import httpx

    if config.transport is Transport.SSE:
        from mcp.client.sse import sse_client

        return await stack.enter_async_context(sse_client(config.url or "", headers=dict(config.headers)))
    from mcp.client.streamable_http import streamable_http_client

    connect, read = HTTP_TIMEOUT
    client = await stack.enter_async_context(
        httpx.AsyncClient(headers=dict(config.headers), timeout=httpx.Timeout(connect, read=read))
    )
    read_stream, write_stream, _ = await stack.enter_async_context(
        streamable_http_client(config.url or "", http_client=client)
    )
    return read_stream, write_stream


async def _watched(stack: contextlib.AsyncExitStack, read: Any, ended: Callable[[], None]) -> Any:
    """``read`` passed through a task that calls ``ended()`` when it ends: how an idle server's exit is noticed
    (the SDK tells only the requests waiting on it)."""
    import anyio

    sender, receiver = anyio.create_memory_object_stream[Any](0)

    async def pump() -> None:
        try:
            async with sender:
                async for message in read:
                    await sender.send(message)
        finally:
            ended()

    group = await stack.enter_async_context(anyio.create_task_group())
    stack.callback(group.cancel_scope.cancel)
    group.start_soon(pump)
    return receiver


async def _list_tools(session: ClientSession) -> list[types.Tool]:
    from mcp.types import PaginatedRequestParams

    listed: list[types.Tool] = []
    cursor: str | None = None
    while True:
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        listed.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return listed


def _why(exc: BaseException, config: ServerConfig, started: float) -> str:
    """One line for what went wrong, from the first real error in an exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = next((e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)), exc.exceptions[0])
    if isinstance(exc, TimeoutError) and time.monotonic() - started >= config.startup_timeout_s:
        return f"no answer within {config.startup_timeout_s:g} s (startup_timeout_s)"
    if isinstance(exc, McpConfigError | FileNotFoundError | _Ended):
        return str(exc)
    from mcp.shared.exceptions import McpError
    from mcp.types import CONNECTION_CLOSED

    if isinstance(exc, McpError):
        return "the connection ended during start-up" if exc.error.code == CONNECTION_CLOSED else exc.error.message
    import anyio

    # The server died while the SDK was writing to it rather than reading (which one depends on timing).
    if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError | anyio.EndOfStream | BrokenPipeError):
        return "the connection ended during start-up"
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return f"{config.url} answered HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TransportError):
        return f"cannot reach {config.url}: {_one_line(exc)}"
    return _one_line(exc)


def _last_line(errlog: TextIO | None) -> str:
    """The server's last line on stderr in this run, else the guard's (how it ended). The guard notices the end
    up to 0.2 s after vt-tui may have: its line can come last, and says less than the server's."""
    if errlog is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        errlog.flush()
        text = Path(errlog.name).read_text(errors="replace")
        lines = [line for line in text[text.rfind(f"\n{RUN_MARK}") + 1 :].splitlines()[1:] if line.strip()]
        own = [line for line in lines if not line.startswith(guard.SAYS)] or lines
        if own:
            return " ".join(own[-1].split())[:300]
    return ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


async def probe(servers: Iterable[ServerConfig]) -> list[ServerStatus]:
    """Start ``servers``, wait until each is ready or has failed, stop them: their statuses as they were (what
    ``vt-tui mcp`` and ``vt-tui doctor`` show)."""
    manager = McpManager(servers)
    try:
        return await manager.wait_started()
    finally:
        await manager.aclose()
