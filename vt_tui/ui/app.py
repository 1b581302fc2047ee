"""The full-screen app: lifecycle, the connection, the GPU sampler, the MCP servers, the palette, keys users
remap, failures.

Everything about the conversation happens on the :class:`~vt_tui.ui.screens.chat.ChatScreen`; dialogs live in
``vt_tui/ui/screens/``, widgets in ``vt_tui/ui/widgets/``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from vt_tui import paths
from vt_tui.core.profiles import ToolMode
from vt_tui.core.store import Store, open_store
from vt_tui.logs import log_failure, log_to_file
from vt_tui.settings import Settings
from vt_tui.ui.commands import CHAT_COMMANDS, MESSAGE_COMMANDS, binding_ids, key_clashes, key_label
from vt_tui.ui.failures import WorkerFailed, one_line
from vt_tui.ui.screens.chat import ChatScreen
from vt_tui.ui.widgets.status_bar import Phase, Status
from vt_tui.voice.controller import Voice

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.timer import Timer

    from vt_tui.core.endpoint import Endpoint
    from vt_tui.core.events import GpuCost
    from vt_tui.core.lifecycle import Lifecycle, Waiting
    from vt_tui.core.mcp.manager import McpManager, ServerStatus
    from vt_tui.gpu.attribution import GpuMeter
    from vt_tui.gpu.sampler import GpuSampler
    from vt_tui.voice.errors import VoiceError

log = logging.getLogger("vt_tui")
TERMINAL_CHECK_S = 1.0  # how often the app checks that its terminal is still there


def screenshot_folder() -> Path:
    """The user's downloads folder when there is one, else vt-tui's data folder (a fresh account over SSH has
    no ~/Downloads; Textual's own choice then fails)."""
    from platformdirs import user_downloads_path

    downloads = user_downloads_path()
    return downloads if downloads.is_dir() else paths.private_dir(paths.data_dir() / "screenshots")


def remappable() -> dict[str, str]:
    """Every binding users can remap in ``[keymap]``: id → default key."""
    return binding_ids(remappable_nodes())


def remappable_nodes() -> list[type[DOMNode]]:
    """The screens and widgets whose bindings have ids (each one's keys must not clash)."""
    from vt_tui.ui.screens.approval import ApprovalScreen
    from vt_tui.ui.screens.confirm import ConfirmScreen
    from vt_tui.ui.screens.context import ContextScreen
    from vt_tui.ui.screens.dialog import Dialog
    from vt_tui.ui.screens.params import ParamsScreen
    from vt_tui.ui.screens.search import SearchScreen
    from vt_tui.ui.widgets.chat_log import AssistantMessage, UserMessage
    from vt_tui.ui.widgets.composer import Chip
    from vt_tui.ui.widgets.tool_panel import ToolPanel

    return [
        *(VtApp, ChatScreen, UserMessage, AssistantMessage, Dialog, ApprovalScreen, ParamsScreen, ToolPanel),
        *(ContextScreen, SearchScreen, ConfirmScreen, Chip),
    ]


class VtApp(App[None]):
    CSS_PATH = ["app.tcss", "widgets/gpu_pane.tcss"]  # the path, not GPU_PANE_TCSS: no import before the first frame
    TITLE = "vt-tui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit")]  # Textual's, with an id

    def __init__(
        self,
        settings: Settings,
        *,
        resume: bool = False,
        conversation_id: int | None = None,
        store: Store | None = None,
        sampler_factory: Callable[[], GpuSampler] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.sampler_factory = sampler_factory or self._make_sampler
        self.sampler: GpuSampler | None = None
        self.gpu_meter: GpuMeter | None = None  # with the sampler: which GPUs a turn is measured on
        self.store_problem: str | None = None  # why conversations are kept in memory only this run
        if store is None:
            store, self.store_problem = open_store(settings.database_path())
        self.store = store
        self.connection = None
        self.ready = asyncio.Event()  # connected, with a session: a prompt goes straight out
        self.lifecycle: Lifecycle | None = None  # while connecting: Ctrl+R retries now
        self.mcp: McpManager | None = None  # the user's MCP servers, once started
        self._countdown: Timer | None = None  # while waiting: "retrying in N s", N going down each second
        self.voice = Voice(settings, on_error=self.voice_failed)
        start = self.store.last_conversation_id() if resume else conversation_id
        self.chat_screen = ChatScreen(settings, self.store, self.voice, self.gpu_cost, start)

    def get_default_screen(self) -> Screen:
        return self.chat_screen

    @property
    def status(self) -> Status:
        """What the status bar shows now."""
        return self.chat_screen.status_bar.status

    def on_mount(self) -> None:
        self.apply_keymap()
        if self.store_problem:
            log.warning("conversation store unusable, kept in memory: %s", self.store_problem)
            self.notify(
                f"{self.store_problem}. This run's conversation is kept in memory only.",
                title="Conversations not saved",
                severity="warning",
                timeout=30,
            )
        if not (self.is_headless or self.is_web) and sys.__stdin__ is not None and sys.__stdin__.isatty():
            self.set_interval(TERMINAL_CHECK_S, partial(self.leave_a_hung_up_terminal, sys.__stdin__.fileno()))
        # Heavy work (openai's import, NVML) starts after the first frame is on screen, so it can't delay it.
        self.call_after_refresh(self.connect)
        self.call_after_refresh(self.start_gpu)
        if self.settings.mcp_servers and self.settings.tools is not ToolMode.OFF:
            self.call_after_refresh(self.start_mcp)

    def leave_a_hung_up_terminal(self, terminal: int) -> None:
        """Exit once the terminal is gone. A hang-up that reaches vt-tui as SIGHUP ends it; but when a process
        in between takes the signal (``make run``, a wrapper script) and the terminal closes (an SSH connection
        dropped, ``tmux kill-server``), nothing ends it: Textual's input thread reads end-of-file again and again.
        Found so: an orphaned vt-tui spinning a whole core for an hour, its embedded model server kept alive.
        A hung-up terminal refuses ``tcgetattr`` (EIO); one call a second costs nothing."""
        import termios

        from vt_tui.headless import ExitCode

        try:
            termios.tcgetattr(terminal)
        except termios.error as exc:
            log.warning("the terminal is gone (%s): exiting", exc)
            self.exit(return_code=ExitCode.FAILED)

    def watch_app_focus(self, focused: bool) -> None:
        """A browser tab (``vt-tui web``) got focus, or its first key. Textual's web driver blurs the app as it
        starts, and a screen focuses its ``AUTO_FOCUS`` widget only while the app has focus: without this, nothing
        might hold focus, and the keys typed into the tab would go nowhere."""
        screen = self.screen
        if focused and screen.focused is None and screen.AUTO_FOCUS:
            focusable = [widget for widget in screen.query(screen.AUTO_FOCUS) if widget.focusable]
            if focusable:
                screen.set_focus(focusable[0])

    # keys users remap ----------------------------------------------------------------------------------
    def apply_keymap(self) -> None:
        """``[keymap]`` in config.toml: binding id → keys. An id no binding has is reported, not ignored."""
        keymap = dict(self.settings.keymap)
        if not keymap:
            return
        known = remappable()
        unknown = sorted(set(keymap) - set(known))
        if unknown:
            self.notify(
                f"Unknown in [keymap]: {', '.join(unknown)} (known: {', '.join(sorted(known))})",
                title="config.toml",
                severity="warning",
                timeout=15,
            )
        keymap = {binding_id: keys for binding_id, keys in keymap.items() if binding_id in known}
        clashes = key_clashes(remappable_nodes(), keymap, VtApp.BINDINGS)
        if clashes:
            self.notify(
                "A key in [keymap] is also another command's: " + "; ".join(clashes),
                title="config.toml",
                severity="warning",
                timeout=15,
            )
        self.set_keymap(keymap)

    # the connection: one place sets its state ----------------------------------------------------------
    def show_connection(self, phase: Phase, message: str = "", endpoint: str | None = None) -> None:
        """The connection's state, as the status bar shows it; IDLE means connected (``ready`` is set)."""
        self._stop_countdown()
        changes = {"phase": phase, "message": message}
        if endpoint is not None:
            changes["endpoint"] = endpoint
        self.chat_screen.status_bar.show(**changes)
        if phase == Phase.ERROR:
            log.error("%s", message)
        if phase == Phase.IDLE:
            self.ready.set()
        else:
            self.ready.clear()

    def show_waiting(self, state: Waiting) -> None:
        """A Waiting state, its "retrying in N s" counted down each second until the next try."""
        self.show_connection(Phase.WAITING, state.describe())
        retry_at = time.monotonic() + state.retry_in

        def count_down() -> None:
            status_bar = self.chat_screen.status_bar
            if status_bar.status.phase == Phase.WAITING:
                status_bar.show(message=state.describe(retry_at - time.monotonic()))

        self._countdown = self.set_interval(1.0, count_down, name="retry countdown")

    def _stop_countdown(self) -> None:
        if self._countdown is not None:
            self._countdown.stop()
            self._countdown = None

    @work(group="connect", exclusive=True, exit_on_error=False, description="connecting to the endpoint")
    async def connect(self) -> None:
        from vt_tui.core.errors import EndpointError
        from vt_tui.engines.connect import connect

        started = time.monotonic()
        await asyncio.to_thread(importlib.import_module, "openai")  # heavy; keep it off the UI thread

        def progress(elapsed: float) -> None:
            self.show_connection(Phase.STARTING, f"starting embedded model… {elapsed:.0f} s")

        self.show_connection(Phase.STARTING)
        try:
            self.connection = await connect(self.settings, progress)
            endpoint = self.connection.endpoint
            self.mark_server()
            self.show_connection(Phase.STARTING, endpoint=endpoint.label)
            await self.wait_for_server(endpoint)
        except EndpointError as exc:
            self.show_connection(Phase.ERROR, str(exc))
            self.chat_screen.not_connected(str(exc))
            return
        self.voice.attach(endpoint)
        await self.chat_screen.connected(self.connection)
        self.show_connection(Phase.IDLE)
        log.info("connected to %s in %.2f s", endpoint.label, time.monotonic() - started)

    @work(group="connect", exclusive=True, exit_on_error=False, description="reconnecting to the endpoint")
    async def reconnect(self) -> None:
        """The server went away after connecting (a turn could not reach it): wait for it as at start, on the
        same endpoint; the chat's waiting prompt goes out once it answers."""
        from vt_tui.core.errors import EndpointError

        assert self.connection is not None
        try:
            await self.wait_for_server(self.connection.endpoint)
        except EndpointError as exc:
            self.show_connection(Phase.ERROR, str(exc))
            self.chat_screen.not_connected(str(exc))
            return
        self.chat_screen.reconnected()
        self.show_connection(Phase.IDLE)
        log.info("reconnected to %s", self.connection.endpoint.label)

    async def wait_for_server(self, endpoint: Endpoint) -> None:
        """Walk a :class:`~vt_tui.core.lifecycle.Lifecycle` to its end, counting its waits down in the status bar
        (Ctrl+R cuts a wait short); raise the error of a Failed one (unless the user named the model)."""
        from vt_tui.core.lifecycle import Failed, Lifecycle, Waiting

        lifecycle = self.lifecycle = Lifecycle(endpoint, model=self.settings.model)  # waits while it starts
        try:
            async for state in lifecycle.states():
                if isinstance(state, Waiting):
                    self.show_waiting(state)
                elif isinstance(state, Failed):
                    if not self.settings.model:
                        raise state.error
                    log.warning("model list unavailable: %s", state.error)
        finally:
            if self.lifecycle is lifecycle:  # not yet replaced by a newer wait (connect workers are exclusive)
                self.lifecycle = None
                self._stop_countdown()  # no "retrying in 0 s" while the chat opens its session

    # GPU sampler -----------------------------------------------------------------------------------------
    def _make_sampler(self) -> GpuSampler:
        from vt_tui.gpu.factory import make_sampler

        return make_sampler(self.settings.gpu_rate, self.settings.metrics_urls)

    @work(thread=True, group="gpu", exit_on_error=False, description="starting the GPU pane")
    def start_gpu(self) -> None:
        """NVML initialisation blocks for a moment: do it on a thread, after the first frame."""
        from vt_tui.gpu.attribution import GpuMeter

        sampler = self.sampler_factory()

        def deliver(snapshot) -> None:
            with suppress(RuntimeError):  # the app has stopped
                self.call_from_thread(self.chat_screen.show_gpu, snapshot)

        sampler.subscribe(deliver)
        sampler.start()
        meter = GpuMeter(gpus=self.settings.gpus, base_url=self.settings.base_url)
        meter.attach(sampler)
        self.sampler, self.gpu_meter = sampler, meter
        self.call_from_thread(self.mark_server)

    def mark_server(self) -> None:
        """The embedded server's PID: picked out in the process list, and the GPUs a turn is measured on
        (whichever of GPU and server came up last)."""
        server = self.connection.server if self.connection else None
        if server is not None and server.pid and self.gpu_meter is not None:
            self.gpu_meter.set_server(server.pid)

    def gpu_cost(self, t0: float, t1: float) -> GpuCost | None:
        """A turn's energy and peak VRAM on the serving GPUs (:mod:`vt_tui.gpu.attribution` says which)."""
        return self.gpu_meter(t0, t1) if self.gpu_meter is not None else None

    # MCP servers -----------------------------------------------------------------------------------------
    @work(group="mcp", exit_on_error=False, description="starting the MCP servers")
    async def start_mcp(self) -> None:
        """The user's MCP servers, after the first frame: each starts in the background (the SDK is imported in a
        thread) and its tools join the agent's registry when it is ready; one that fails or crashes is said once."""
        from vt_tui.core.mcp.manager import McpManager

        manager = McpManager.from_settings(self.settings)
        manager.subscribe(self.mcp_changed)
        manager.start()
        self.mcp = manager
        await self.chat_screen.prepared.wait()
        assert self.chat_screen.agent is not None
        manager.feed(self.chat_screen.agent.registry)

    def mcp_changed(self, status: ServerStatus) -> None:
        from vt_tui.core.mcp.manager import ServerState
        from vt_tui.core.sanitize import inert

        if status.state not in (ServerState.FAILED, ServerState.CRASHED):
            return  # the manager changes a server to failed or crashed once: one notice each
        where = f" — its stderr is in {status.log_path}" if status.log_path else ""
        self.notify(
            inert(f"{status.summary}{where}"),
            title=f"MCP server {inert(status.name)}",
            severity="error",
            timeout=15,
            markup=False,  # the server's own words are quoted
        )

    # voice -------------------------------------------------------------------------------------------
    def voice_failed(self, error: VoiceError) -> None:
        status = self.chat_screen.status_bar
        turned_off = status.status.speak and not self.voice.speak
        status.show(speak=self.voice.speak)
        more = " Spoken replies are off; F7 turns them back on." if turned_off else ""
        self.notify(str(error) + more, title="voice", severity="error", timeout=10)

    # failures: no exception ends the app ------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker)

    def on_worker_failed(self, event: WorkerFailed) -> None:
        self.worker_failed(event.worker)

    def worker_failed(self, worker: Worker) -> None:
        """One line on screen; the traceback in the log file."""
        what = worker.description or worker.name or worker.group
        path = log_failure(what, worker.error or RuntimeError("no error recorded"))
        self.notify(
            f"{one_line(worker.error)} — details in {path}", title=f"{what} failed", severity="error", timeout=15
        )

    # palette ---------------------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not isinstance(screen, ChatScreen):
            return
        bound = {active.binding.id: key for key, active in screen.active_bindings.items() if active.binding.id}
        for command in (*CHAT_COMMANDS, *MESSAGE_COMMANDS):
            if command.title is None:
                continue
            key = bound.get(command.id)
            help_text = f"{command.help} ({key_label(key)})" if key else command.help
            yield SystemCommand(command.title, help_text, partial(screen.run_action, command.action))

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        return super().deliver_screenshot(filename, path or str(screenshot_folder()), time_format)

    @on(events.DeliveryFailed)
    def screenshot_failed(self, event: events.DeliveryFailed) -> None:
        event.prevent_default()  # Textual's own handler guesses that the user wanted to quit
        self.notify(one_line(event.exception), title="Screenshot not saved", severity="error", timeout=10)

    async def on_unmount(self) -> None:
        if self.mcp is not None:
            await self.mcp.aclose()
        await self.voice.aclose()
        if self.sampler is not None:
            # Off the UI thread: the sampler may be waiting in call_from_thread for this loop.
            await asyncio.to_thread(self.sampler.stop)
        if self.connection is not None:
            await self.connection.aclose()
        self.store.close()


def run(settings: Settings, *, resume: bool = False, conversation_id: int | None = None) -> int:
    log_to_file()
    app = VtApp(settings, resume=resume, conversation_id=conversation_id)
    try:
        app.run()
    finally:
        if app.connection is not None and app.connection.server is not None:
            app.connection.server.stop()
    return app.return_code or 0
