"""``vt-tui ask``: one question, the answer streamed to stdout through the same core as the TUI."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TextIO

from vt_tui.core import attachments
from vt_tui.core.agent import AgentConfig
from vt_tui.core.agent.config import MCP_SERVER
from vt_tui.core.conversation import ConversationSetup, default_persona
from vt_tui.core.errors import EndpointError, ErrorKind
from vt_tui.core.events import (
    ContextTrimmed,
    ContextTruncated,
    Event,
    ReasoningDelta,
    ReasoningFinished,
    TextDelta,
    ToolCallFinished,
    ToolStatus,
    TurnFailed,
    TurnFinished,
    event_to_json,
)
from vt_tui.core.lifecycle import ConnectionState, Lifecycle, Waiting
from vt_tui.core.personas import load_personas
from vt_tui.core.profiles import ToolMode
from vt_tui.core.reasoning import no_answer
from vt_tui.core.sanitize import inert
from vt_tui.engines.connect import connect
from vt_tui.gpu.attribution import GpuMeter
from vt_tui.headless import ExitCode
from vt_tui.logs import log_to_file
from vt_tui.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vt_tui.core.attachments import Attachment
    from vt_tui.core.endpoint import Endpoint
    from vt_tui.core.mcp.manager import McpManager
    from vt_tui.core.personas import Persona
    from vt_tui.core.session import ChatSession
    from vt_tui.voice.controller import Voice

ASK_GPU_HZ = 10.0  # one answer is short: the turn's last sample is at most 0.1 s before its end


@asynccontextmanager
async def _gpu_meter(settings: Settings) -> AsyncIterator[GpuMeter]:
    """The app's GPU measurement for one answer: a sampler for as long as the question runs."""
    from vt_tui.gpu.factory import make_sampler

    meter = GpuMeter(gpus=settings.gpus, base_url=settings.base_url)
    sampler = await asyncio.to_thread(make_sampler, max(settings.gpu_rate, ASK_GPU_HZ), settings.metrics_urls)
    meter.attach(sampler)
    sampler.start()
    try:
        yield meter
    finally:
        await asyncio.to_thread(sampler.stop)


DIM, NORMAL = "\x1b[2m", "\x1b[22m"


class _Output:
    """Where events go: JSON lines, plain text, or live Markdown on a terminal. Only the answer goes to ``out``;
    the thinking goes to ``thinking`` (stderr, with ``--show-thinking``; dim on a terminal), or nowhere.

    The live Markdown starts with the answer: thinking printed before it streams as it comes, and never lands
    inside the live area. Thinking after the answer has started (a later agent step) is printed above it, line
    by line, through the live display's console when both go to the terminal."""

    def __init__(self, out: TextIO, as_json: bool, thinking: TextIO | None = None) -> None:
        self.out = out
        self.as_json = as_json
        self.rich = not as_json and out.isatty()
        self.thinking = thinking
        self.dim = thinking is not None and thinking.isatty()
        self.text: list[str] = []
        self.thought: list[str] = []
        self.live = None
        self._mid_line = False  # thinking written without its line end yet
        self._unprinted = ""  # thinking after the answer started, until its line ends

    def __enter__(self) -> _Output:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.live = Live(console=Console(file=self.out), refresh_per_second=12, vertical_overflow="visible")
        self.live.__enter__()

    def emit(self, event: Event) -> None:
        if isinstance(event, ReasoningDelta):
            self.thought.append(event.text)
        if self.as_json:
            self.out.write(json.dumps(event_to_json(event), ensure_ascii=False) + "\n")
            self.out.flush()
        elif isinstance(event, TextDelta):
            self.text.append(event.text)
            if self.rich:
                from rich.markdown import Markdown

                if self.live is None:
                    self._start_live()
                self.live.update(Markdown(inert("".join(self.text))))
            else:
                self.out.write(event.text)
                self.out.flush()
        elif isinstance(event, ReasoningDelta) and self.thinking is not None:
            self._show_thinking(inert(event.text))
        elif isinstance(event, ReasoningFinished) and self._mid_line:
            self._show_thinking("\n")
        elif isinstance(event, TurnFinished | TurnFailed) and self.live is None and self.text:
            self.out.write("\n")

    def _show_thinking(self, text: str) -> None:
        assert self.thinking is not None
        if self.live is not None and self.dim:  # the answer is live on this terminal: print whole lines above it
            from rich.text import Text

            lines, _, self._unprinted = (self._unprinted + text).rpartition("\n")
            if lines:
                self.live.console.print(Text(lines, style="dim"), highlight=False)
            self._mid_line = bool(self._unprinted)
            return
        self.thinking.write(f"{DIM}{text}{NORMAL}" if self.dim else text)
        self.thinking.flush()
        self._mid_line = not text.endswith("\n")


async def ask(
    settings: Settings,
    question: str,
    as_json: bool,
    out: TextIO = sys.stdout,
    wait_s: float = 0.0,
    show_thinking: bool = False,
    files: Sequence[str] = (),
) -> int:
    """``wait_s``: how long to wait for a server that is still starting (0: fail at once with one line).
    ``show_thinking``: the model's thinking on stderr too (only the answer goes to ``out``). ``files``: text files
    sent with the question; one that can't be attached is bad input (nothing is run)."""
    try:
        attached = [attachments.load(path, attachments.AttachmentKind.TEXT) for path in files]
    except attachments.AttachmentError as exc:
        print(f"vt-tui ask: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    personas = load_personas()
    persona = default_persona(personas, settings)
    if settings.persona and persona is None:
        print(f"vt-tui: no persona {settings.persona!r} (have: {', '.join(personas.names())})", file=sys.stderr)
        return ExitCode.FAILED
    async with _gpu_meter(settings) as meter:
        thinking = sys.stderr if show_thinking else None
        return await _ask(settings, persona, question, attached, _Output(out, as_json, thinking), wait_s, meter)


async def _ask(
    settings: Settings,
    persona: Persona | None,
    question: str,
    attached: list[Attachment],
    output: _Output,
    wait_s: float,
    meter: GpuMeter,
) -> int:
    as_json = output.as_json
    show_progress = settings.embedded and not as_json and sys.stderr.isatty()

    def progress(elapsed: float) -> None:
        if show_progress and elapsed > 0.5:
            print(f"\rstarting the embedded model… {elapsed:4.1f} s", end="", file=sys.stderr, flush=True)

    try:
        connection = await connect(settings, progress)
    except EndpointError as exc:
        print(f"vt-tui: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if show_progress:
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    if connection.server is not None and connection.server.pid:
        meter.set_server(connection.server.pid)
    if wait_s > 0:
        try:
            await Lifecycle(connection.endpoint, wait_s=wait_s, model=settings.model).connect(_say_waiting)
        except EndpointError as exc:
            print(f"vt-tui: {exc}", file=sys.stderr)
            await connection.aclose()
            return ExitCode.FAILED
    # No approver: risky tools run only on allowlisted hosts.
    setup = ConversationSetup.build(settings, persona)
    session = setup.session(connection.endpoint, AgentConfig.for_run(settings), gpu_cost=meter)
    voice = _voice(settings, connection.endpoint)
    code = ExitCode.OK
    mcp = None
    try:
        mcp = await _mcp(settings, session)
        if voice is not None:
            await voice.reply_started()
        with output:
            async for event in session.run_turn(question, attached):
                output.emit(event)
                if voice is not None and isinstance(event, TextDelta):
                    voice.reply_text(event.text)
                if isinstance(event, TurnFailed):
                    code = _exit_code(event)
                    if not as_json:
                        print(f"vt-tui: {event.error}", file=sys.stderr)
                elif isinstance(event, ContextTrimmed | ContextTruncated) and not as_json:
                    print(f"vt-tui: {event.message}", file=sys.stderr)
                elif isinstance(event, TurnFinished):
                    missing = no_answer(event.text, "".join(output.thought), event.stats.finish_reason)
                    if missing:  # it only thought: say so rather than print nothing and succeed
                        code = ExitCode.FAILED
                        if not as_json:
                            print(f"vt-tui: {missing}", file=sys.stderr)
                elif isinstance(event, ToolCallFinished) and event.status is ToolStatus.DENIED and not as_json:
                    print(f"vt-tui: {event.error}{_trust_hint(session, event.name)}", file=sys.stderr)
        if voice is not None:
            voice.reply_done()
            await voice.wait()  # the answer is on stdout; its last sentences are still being said
    finally:
        if voice is not None:
            await voice.aclose()
        if mcp is not None:
            await mcp.aclose()
        await connection.aclose()
    return code


def _exit_code(failed: TurnFailed) -> ExitCode:
    if failed.cancelled:
        return ExitCode.CANCELLED
    return ExitCode.CONTEXT if failed.error.kind is ErrorKind.CONTEXT_OVERFLOW else ExitCode.FAILED


def _say_waiting(state: ConnectionState) -> None:
    """Waiting states on stderr: one line each on a pipe, one line rewritten in place on a terminal."""
    tty = sys.stderr.isatty()
    if isinstance(state, Waiting):
        print(("\r\x1b[K" if tty else "") + f"vt-tui: {state.describe()}", end="" if tty else "\n", file=sys.stderr)
    elif tty:
        print("\r\x1b[K", end="", file=sys.stderr)
    sys.stderr.flush()


async def _mcp(settings: Settings, session: ChatSession) -> McpManager | None:
    """The MCP servers' tools for this answer: started and waited for (each within its startup_timeout_s); one that
    did not start is said on stderr in one line, and the answer goes on without it."""
    if not settings.mcp_servers or session.agent is None or session.tool_mode() is ToolMode.OFF:
        return None
    from vt_tui.core.mcp.manager import McpManager, ServerState

    manager = McpManager.from_settings(settings)
    manager.feed(session.agent.registry)
    for status in await manager.wait_started():
        if status.state is ServerState.FAILED:
            print(f"vt-tui: MCP server {status.name!r} {status.summary}", file=sys.stderr)
    return manager


def _trust_hint(session: ChatSession, name: str) -> str:
    """For an MCP tool refused here: how to let it run without asking."""
    tool = session.agent.registry.get(name) if session.agent is not None else None
    server = (tool.metadata or {}).get(MCP_SERVER) if tool is not None else None
    return f"; trust = true in [mcp_servers.{server}] runs its tools without asking" if server else ""


def _voice(settings: Settings, endpoint: Endpoint) -> Voice | None:
    """With ``--speak``, the answer is read aloud as it streams (speech problems go to stderr, once)."""
    if not settings.speak:
        return None
    from vt_tui.voice.controller import Voice

    voice = Voice(settings, on_error=lambda error: print(f"vt-tui: {error}", file=sys.stderr))
    voice.attach(endpoint)
    return voice


def run(
    settings: Settings,
    question: str,
    as_json: bool,
    wait_s: float = 0.0,
    show_thinking: bool = False,
    files: Sequence[str] = (),
) -> int:
    log_to_file()  # warnings go to the log; stderr gets only the one-line errors said here
    try:
        return asyncio.run(ask(settings, question, as_json, wait_s=wait_s, show_thinking=show_thinking, files=files))
    except KeyboardInterrupt:
        return ExitCode.CANCELLED
