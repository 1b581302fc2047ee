"""The full-screen app. It wires core events to widgets; it holds no business logic of its own."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from vt_tui import paths
from vt_tui.core import attachments, export
from vt_tui.core import params as gen
from vt_tui.core.agent import AgentConfig, preload
from vt_tui.core.agent.registry import summary
from vt_tui.core.attachments import Attachment
from vt_tui.core.errors import EndpointError
from vt_tui.core.events import (
    ReasoningDelta,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFailed,
    TurnFinished,
    TurnStarted,
)
from vt_tui.core.personas import chosen, load_personas, session_setup
from vt_tui.core.session import ChatSession, GenerationParams, no_vision
from vt_tui.core.store import Store, Turn
from vt_tui.gpu.attribution import GpuMeter
from vt_tui.gpu.factory import make_sampler
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.logs import log_to_file
from vt_tui.settings import Settings
from vt_tui.ui.params_screen import ParamsScreen
from vt_tui.ui.picker import PickerScreen
from vt_tui.ui.widgets.chat_log import AssistantMessage, ChatLog, EarlierMarker, UserMessage, stats_line
from vt_tui.ui.widgets.composer import AttachScreen, Composer
from vt_tui.ui.widgets.gpu_pane import GPU_PANE_TCSS, GpuPane
from vt_tui.ui.widgets.status_bar import StatusBar
from vt_tui.ui.widgets.tool_panel import TOOL_PANEL_TCSS, ApprovalScreen, ToolPanel, approver_for
from vt_tui.ui.widgets.voice_bar import VoiceBar
from vt_tui.voice.controller import Voice
from vt_tui.voice.errors import VoiceError

log = logging.getLogger("vt_tui")
WIDE_WIDTH = 150  # from here the side column widens and the GPU pane shows its sparklines
HISTORY_PAGE = 6  # at most this many turns mounted per page of history, so long conversations open fast
HISTORY_PAGE_CHARS = 3000  # ...and no more text than about a screenful (rendering Markdown is the cost)


def page_start(turns: list[Turn]) -> int:
    """Index of the first turn of the last page: up to HISTORY_PAGE turns and ~HISTORY_PAGE_CHARS of text."""
    start, chars = len(turns), 0
    while start > 0 and len(turns) - start < HISTORY_PAGE and (chars < HISTORY_PAGE_CHARS or start == len(turns)):
        start -= 1
        chars += len(turns[start].user_text) + len(turns[start].assistant_text)
    return start


SIDE_MIN_WIDTH = 100  # below this the side column starts hidden (F3 shows it)


class VtApp(App[None]):
    CSS_PATH = ["app.tcss", TOOL_PANEL_TCSS, GPU_PANE_TCSS]
    TITLE = "vt-tui"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", priority=True),
        Binding("ctrl+r", "retry", "Retry"),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+o", "open_conversation", "Open"),
        Binding("ctrl+l", "clear_context", "Clear ctx"),
        Binding("f2", "switch_model", "Model"),
        Binding("f4", "copy_reply", "Copy reply"),
        Binding("f5", "copy_code", "Copy code"),
        Binding("f8", "export('md')", "Export .md"),
        Binding("f9", "export('json')", "Export .json"),
        Binding("f3", "toggle_side", "Panels"),
        Binding("f10", "switch_persona", "Persona"),
        Binding("f11", "edit_params", "Params"),
        # Priority: over the composer's own F6/F7 (TextArea's select line/all). Not in the footer, where they would
        # come first (TextArea's slot) and push out Open and Model at 80 columns; the composer's placeholder says F6.
        Binding("f6", "talk", "Talk", show=False, priority=True),
        Binding("f7", "toggle_speak", "Speak", show=False, priority=True),
        Binding("ctrl+home", "scroll_chat('top')", "Top", show=False, priority=True),
        Binding("ctrl+end", "scroll_chat('bottom')", "Bottom", show=False, priority=True),
        Binding("alt+up", "jump(-1)", "Prev msg", show=False, priority=True),
        Binding("alt+down", "jump(1)", "Next msg", show=False, priority=True),
        Binding("pageup", "scroll_chat('pageup')", "Page up", show=False, priority=True),
        Binding("pagedown", "scroll_chat('pagedown')", "Page down", show=False, priority=True),
    ]

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
        self.sampler_factory = sampler_factory or (lambda: make_sampler(settings.gpu_rate, settings.metrics_urls))
        self.sampler: GpuSampler | None = None
        self.gpu_meter = GpuMeter(gpus=settings.gpus, base_url=settings.base_url)  # a turn's energy and VRAM
        self.agent = AgentConfig.from_settings(settings, approver=approver_for(self))
        self.personas = load_personas()
        self.persona = chosen(self.personas, settings)
        self.store = store or Store(settings.database_path())
        self.start_conversation = self.store.last_conversation_id() if resume else conversation_id
        self.connection = None
        self.session: ChatSession | None = None
        self.ready = asyncio.Event()
        self._turn_worker = None
        self._unrendered: list[Turn] = []
        # Held, not queried: workers may still report into them while the app is shutting down.
        self.chat = ChatLog(id="chat-log")
        self.status = StatusBar(id="status")
        self.voice = Voice(settings, on_error=self.voice_failed)
        self.status.speak = self.voice.speak

    # layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield self.chat
                yield VoiceBar(self.voice, id="voice-bar")
                yield Composer(id="composer", placeholder="Ask anything — Enter sends, Ctrl+J newline, F6 talks")
            with Vertical(id="side"):
                yield ToolPanel(id="tool-panel")
                yield GpuPane(id="gpu-pane")
        yield self.status
        yield Footer()

    def on_resize(self) -> None:
        self.query_one("#side").set_class(self.size.width >= WIDE_WIDTH, "wide")

    def on_mount(self) -> None:
        for problem in self.personas.errors:
            self.notify(problem, title="persona skipped", severity="warning", timeout=10)
        if self.settings.persona and self.persona is None:
            names = ", ".join(self.personas.names())
            self.notify(f"No persona {self.settings.persona!r} (have: {names})", severity="error", timeout=10)
        side = self.query_one("#side")
        side.display = bool(side.children) and self.size.width >= SIDE_MIN_WIDTH
        self.status.endpoint = self.settings.base_url or "embedded"
        self.query_one(Composer).focus()
        if self.start_conversation:  # show the history at once; the endpoint may take seconds
            self.call_later(self.render_history, self.store.turns(self.start_conversation))
        # Heavy work (openai's import, NVML) starts after the first frame is on screen, so it can't delay it.
        self.call_after_refresh(self.connect)
        self.call_after_refresh(self.start_gpu)

    # GPU pane
    @work(thread=True, group="gpu")
    def start_gpu(self) -> None:
        """NVML initialisation blocks for a moment: do it on a thread, after the first frame."""
        pane = self.query_one(GpuPane)
        sampler = self.sampler_factory()

        def deliver(snapshot) -> None:
            with suppress(RuntimeError):  # the app has stopped
                self.call_from_thread(pane.show_snapshot, snapshot)

        sampler.subscribe(deliver)
        sampler.start()
        self.sampler = sampler
        self.gpu_meter.attach(sampler)

    def mark_server(self) -> None:
        """Pick out the embedded server in the GPU process list and measure turns on its GPUs."""
        server = self.connection.server if self.connection else None
        if server is not None and server.pid:
            self.gpu_meter.set_server(server.pid)

    # connecting
    @work(group="connect", exclusive=True)
    async def connect(self) -> None:
        from vt_tui.engines.connect import connect

        started = time.monotonic()
        await asyncio.to_thread(importlib.import_module, "openai")  # heavy; keep it off the UI thread

        def progress(elapsed: float) -> None:
            self.status.message = f"starting embedded model… {elapsed:.0f} s"

        self.status.state = "starting"
        try:
            self.connection = await connect(self.settings, progress)
            endpoint = self.connection.endpoint
            self.mark_server()
            self.status.endpoint = endpoint.label
            try:
                await endpoint.list_models()
            except EndpointError as exc:
                if not self.settings.model:
                    raise
                log.warning("model list unavailable: %s", exc)
        except EndpointError as exc:
            self.show_error(exc)
            return
        self.voice.attach(endpoint)
        self.open_session(self.start_conversation, render=False)
        self.status.state, self.status.message = "idle", ""
        registry = await preload(self.agent)  # tools and LangChain, in threads, before the first agent turn
        if registry.errors:
            self.notify(summary(registry.errors), severity="warning", timeout=10)
        log.info("connected to %s in %.2f s", endpoint.label, time.monotonic() - started)
        self.ready.set()

    def open_session(self, conversation_id: int | None, render: bool = True) -> None:
        """Start a session on the connected endpoint: a new conversation, or a stored one."""
        assert self.connection is not None
        info = self.store.conversation(conversation_id) if conversation_id else None
        persona = self.personas.get(info.persona) if info and info.persona else self.persona
        system, params = session_setup(persona, self.settings)
        self.session = ChatSession(
            self.connection.endpoint,
            model=self.settings.model
            or (info.model if info and info.model in self.connection.endpoint.models else None),
            system=info.system if info else system,
            params=params,
            store=self.store,
            conversation_id=info.id if info else None,
            gpu_cost=self.gpu_meter,
            agent=None if persona and persona.tools is False else self.agent,
            persona=persona.name if persona else None,
        )
        self.query_one(Composer).quick_prompts = list(persona.examples) if persona and not info else []
        panel = self.query_one(ToolPanel)
        if info:
            panel.load(self.store.tool_calls(info.id))
        else:
            panel.clear()
        self.status.model = self.session.model or (self.connection.endpoint.models or [""])[0]
        self.update_context()
        if render:
            self.call_later(self.render_history, self.session.turns)
        if persona and not info and (persona.greeting or persona.examples):
            lines = [f"{persona.name}: {persona.greeting}" if persona.greeting else persona.name]
            lines += [f"{n}. {example}" for n, example in enumerate(persona.examples[:9], 1)]
            self.call_later(self.chat.mount, Static(Text("\n".join(lines)), classes="greeting"))

    async def render_history(self, turns: list[Turn]) -> None:
        """Show the latest turns; older ones wait above until the user goes to the top (Ctrl+Home)."""
        chat = self.chat
        await chat.remove_children()
        start = page_start(turns)
        self._unrendered = turns[:start]
        await chat.mount_all(self._turn_widgets(turns[start:]))
        await self._update_earlier_marker()
        self.update_context()
        chat.anchor()

    def _turn_widgets(self, turns: list[Turn]) -> list:
        widgets = []
        for turn in turns:
            failed = turn.status != "ok"
            footer = self._failure_footer(turn.status, turn.error or "") if failed else stats_line(turn.stats)
            widgets += [
                UserMessage(turn.user_text, turn.attachments),
                AssistantMessage(turn.model, turn.assistant_text, footer, failed),
            ]
        return widgets

    async def _update_earlier_marker(self) -> None:
        markers = self.chat.query(EarlierMarker)
        if not self._unrendered:
            await markers.remove()
        elif markers:
            markers.first().count = len(self._unrendered)
        else:
            await self.chat.mount(EarlierMarker(len(self._unrendered)), before=0)

    async def on_chat_log_reached_top(self) -> None:
        if self._unrendered:
            await self.load_earlier()

    async def load_earlier(self) -> None:
        start = page_start(self._unrendered)
        page, self._unrendered = self._unrendered[start:], self._unrendered[:start]
        marker = self.chat.query_one(EarlierMarker)
        old_first = next(iter(self.chat.messages()), None)
        await self.chat.mount_all(self._turn_widgets(page), after=marker)
        await self._update_earlier_marker()
        if old_first is not None:  # keep the user's place: the new page sits above it
            self.chat.scroll_to_widget(old_first, top=True, animate=False, immediate=True)

    def show_error(self, exc: EndpointError) -> None:
        log.error("%s", exc)
        self.status.state, self.status.message = "error", str(exc)

    def update_context(self) -> None:
        if self.session:
            self.status.context_tokens = self.session.context_chars() // 4

    # turns
    async def on_composer_submitted(self, message: Composer.Submitted) -> None:
        composer = message.composer
        paths, text = attachments.split_command(message.text)
        try:
            loaded = [attachments.load(path) for path in paths]
        except attachments.AttachmentError as exc:
            composer.load_text(message.text)  # nothing attached: fix the path and press Enter again
            self.notify(str(exc), title="image not attached", severity="error", timeout=8)
            return
        for image in loaded:
            composer.attach(image)
        if not text:  # only /image lines: the images wait for the prompt
            return
        if self._turn_worker is not None and self._turn_worker.is_running:
            composer.load_text(text)
            self.notify("A reply is still streaming — Esc cancels it.", severity="warning")
            return
        if composer.attachments and self.session is not None and self.session.refuses_images():
            self.refuse_images(text, [])
            return
        self._turn_worker = self.run_turn(text, composer.take_attachments())

    def refuse_images(self, text: str, images: list[Attachment]) -> None:
        """The endpoint takes no images: say so before sending, keep the text and the images in the composer."""
        assert self.session is not None
        composer = self.query_one(Composer)
        if not composer.text:
            composer.load_text(text)
        for image in images:
            composer.attach(image)
        error = no_vision(self.session.endpoint.profile.title)
        self.notify(error.hint, title=error.message, severity="error", timeout=10)

    def attach_image(self, path: str | None) -> None:
        if not path:
            return
        try:
            image = attachments.load(path)
        except attachments.AttachmentError as exc:
            self.notify(str(exc), title="image not attached", severity="error", timeout=8)
            return
        composer = self.query_one(Composer)
        composer.attach(image)
        composer.focus()

    @work(group="turn")
    async def run_turn(self, text: str, images: list[Attachment] | None = None) -> None:
        chat = self.chat
        images = images or []
        user = await chat.add_user(text, images)
        if not self.ready.is_set():
            self.status.message = self.status.message or "waiting for the endpoint…"
            await self.ready.wait()
        assert self.session is not None
        if images and self.session.refuses_images():  # sent before the endpoint was known
            await user.remove()
            self.refuse_images(text, images)
            return
        reply = await chat.add_assistant(self.session.model or "")
        self.status.state, self.status.message = "streaming", ""
        await self.voice.reply_started()
        async for event in self.session.run_turn(text, images):
            if isinstance(event, TextDelta):
                reply.append(event.text)
                self.voice.reply_text(event.text)
            elif isinstance(event, ToolCallStarted):
                self.query_one(ToolPanel).add_call(event)
            elif isinstance(event, ToolCallFinished):
                self.query_one(ToolPanel).finish_call(event)
            elif isinstance(event, ReasoningDelta):
                reply.show_footer("thinking…")
            elif isinstance(event, TurnStarted):
                self.status.model = reply.model = event.model
            elif isinstance(event, TurnFinished):
                reply.finish(event.text, stats_line(event.stats))
                self.voice.reply_done()
                self.status.state, self.status.figures = "idle", stats_line(event.stats)
            elif isinstance(event, TurnFailed):
                status = "cancelled" if event.cancelled else "failed"
                self.voice.stop_speech()
                reply.finish(event.partial_text, self._failure_footer(status, str(event.error)), failed=True)
                if event.cancelled:
                    self.status.state, self.status.message = "idle", "cancelled"
                else:
                    self.show_error(event.error)
        self.update_context()

    @staticmethod
    def _failure_footer(status: str, error: str) -> str:
        return f"✗ {status}: {error} — Ctrl+R retries"

    # actions
    def action_cancel(self) -> None:
        if isinstance(self.screen, ApprovalScreen):  # Esc in the approval prompt denies the call
            self.screen.dismiss("deny")
            return
        if isinstance(self.screen, ModalScreen):  # dialogs close through their callback, with no answer
            self.screen.dismiss(None)
        elif self.query_one(VoiceBar).discard():
            pass
        elif self.session is not None and self.session.busy:
            self.session.cancel()
            self.voice.stop_speech()
        elif self.voice.speaking:
            self.voice.stop_speech()

    # voice
    def action_talk(self) -> None:
        self.query_one(VoiceBar).toggle()

    def action_toggle_speak(self) -> None:
        self.status.speak = on = self.voice.toggle_speak()
        self.notify("Replies will be read aloud (F7 stops)" if on else "Replies are no longer read aloud")

    def voice_failed(self, error: VoiceError) -> None:
        turned_off = self.status.speak and not self.voice.speak
        self.status.speak = self.voice.speak
        more = " Spoken replies are off; F7 turns them back on." if turned_off else ""
        self.notify(str(error) + more, title="voice", severity="error", timeout=10)

    def on_voice_bar_transcribed(self, message: VoiceBar.Transcribed) -> None:
        composer = self.query_one(Composer)
        busy = self._turn_worker is not None and self._turn_worker.is_running
        if self.settings.voice_send and not busy and not composer.text.strip():
            self._turn_worker = self.run_turn(message.text, composer.take_attachments())
            return
        joiner = "" if not composer.text or composer.text.endswith((" ", "\n")) else " "
        composer.move_cursor(composer.document.end)  # after what is typed, for review
        composer.insert(joiner + message.text)
        composer.focus()

    def action_retry(self) -> None:
        if self.session is None:
            return
        failed = [t for t in self.session.turns if t.status in ("failed", "cancelled")]
        if not failed:
            self.notify("Nothing to retry.")
            return
        if self._turn_worker is None or not self._turn_worker.is_running:
            self._turn_worker = self.run_turn(failed[-1].user_text, failed[-1].attachments)

    def action_attach_image(self) -> None:
        self.push_screen(AttachScreen(), self.attach_image)

    def action_new_conversation(self) -> None:
        if self.connection is not None and not (self.session and self.session.busy):
            self.open_session(None)
            self.status.figures = ""

    def action_open_conversation(self) -> None:
        def rows(query: str):
            for c in self.store.list_conversations(query):
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
                yield c.id, f"{c.title or '(untitled)'}  ·  {c.model}  ·  {when}  ·  {c.turn_count} turns"

        def opened(conversation_id: int | None) -> None:
            if conversation_id is not None and self.connection is not None:
                self.open_session(conversation_id)

        self.push_screen(PickerScreen("Open conversation", lambda q: list(rows(q))), opened)

    def action_switch_persona(self) -> None:
        def rows(query: str):
            for p in self.personas.personas.values():
                if query.lower() in f"{p.name} {p.description}".lower():
                    yield p.name, f"{p.name}  ·  {p.description}"

        def chosen(name: str | None) -> None:
            if name and self.connection is not None and not (self.session and self.session.busy):
                self.persona = self.personas.get(name)
                self.open_session(None)
                self.notify(f"Persona: {name} (new conversation)")

        self.push_screen(PickerScreen("Switch persona", lambda q: list(rows(q))), chosen)

    def action_edit_params(self) -> None:
        if self.session is None:
            return
        session = self.session

        def applied(params: GenerationParams | None) -> None:
            if params is not None:
                session.params = params
                self.notify("Generation parameters updated for this conversation")

        ignored = gen.ignored_by(session.endpoint.profile)
        self.push_screen(ParamsScreen(session.params, ignored), applied)

    def action_clear_context(self) -> None:
        if self.session:
            self.session.clear_context()
            self.chat.mount(Static(Text("── context cleared: earlier turns are no longer sent ──"), classes="divider"))
            self.update_context()

    def action_switch_model(self) -> None:
        if self.connection is None:
            return
        models = self.connection.endpoint.models

        def chosen(model: str | None) -> None:
            if model and self.session:
                self.session.model = self.status.model = model
                self.notify(f"Model: {model}")

        self.push_screen(
            PickerScreen("Switch model", lambda q: [(m, m) for m in models if q.lower() in m.lower()]), chosen
        )

    def _last_reply(self) -> str:
        replies = [w for w in self.chat.messages() if isinstance(w, AssistantMessage) and w.text]
        return replies[-1].text if replies else ""

    def action_copy_reply(self) -> None:
        text = self._last_reply()
        if text:
            self.copy_to_clipboard(text)
            self.notify(f"Copied the last reply ({len(text):,} chars)")

    def action_copy_code(self) -> None:
        code = export.last_code_block(self._last_reply())
        if code is None:
            self.notify("The last reply has no code block.")
            return
        self.copy_to_clipboard(code)
        self.notify(f"Copied the last code block ({len(code.splitlines())} lines)")

    def action_export(self, kind: str) -> Path | None:
        if self.session is None or not self.session.turns:
            self.notify("Nothing to export yet.")
            return None
        cid = self.session.conversation_id
        info = self.store.conversation(cid) if cid else None
        folder = paths.private_dir(paths.data_dir() / "exports")
        path = folder / f"conversation-{cid}-{time.strftime('%Y%m%d-%H%M%S')}.{kind}"
        if kind == "md":
            body = export.to_markdown(info, self.session.turns)
        else:
            body = export.to_json(info, self.session.turns, self.store.tool_calls(cid) if cid else ())
        path.write_text(body, encoding="utf-8")
        self.notify(f"Exported to {path}")
        return path

    def action_toggle_side(self) -> None:
        side = self.query_one("#side")
        if side.children:
            side.display = not side.display
        else:
            self.notify("No side panels yet.")

    async def action_scroll_chat(self, where: str) -> None:
        chat = self.chat
        if where == "top":
            chat.release_anchor()
            if chat.scroll_y == 0 and self._unrendered:  # already at the top: no scroll event will come
                await self.load_earlier()
            chat.scroll_home(animate=False)  # reaching the top loads the next page (on_chat_log_reached_top)
        elif where == "bottom":
            chat.anchor()
        elif where == "pageup":
            chat.release_anchor()
            chat.scroll_page_up(animate=False)
        else:
            chat.scroll_page_down(animate=False)

    def action_jump(self, direction: int) -> None:
        self.chat.jump(direction)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = [
            ("New conversation", "Start a fresh conversation (Ctrl+N)", self.action_new_conversation),
            ("Open conversation", "Search stored conversations (Ctrl+O)", self.action_open_conversation),
            ("Clear context", "Stop sending earlier turns to the model (Ctrl+L)", self.action_clear_context),
            ("Switch model", "Pick a model from /v1/models (F2)", self.action_switch_model),
            ("Switch persona", "Start a conversation with another persona (F10)", self.action_switch_persona),
            ("Generation parameters", "temperature, top_p, max_tokens, stop, seed (F11)", self.action_edit_params),
            ("Copy last reply", "To the clipboard, over SSH too (F4)", self.action_copy_reply),
            ("Copy last code block", "The last fenced block of the last reply (F5)", self.action_copy_code),
            ("Export conversation as Markdown", "Write a .md file (F8)", lambda: self.action_export("md")),
            ("Export conversation as JSON", "Write a .json file (F9)", lambda: self.action_export("json")),
            ("Toggle side panels", "Show or hide the right-hand column (F3)", self.action_toggle_side),
            ("Retry", "Send the last failed prompt again (Ctrl+R)", self.action_retry),
            ("Talk", "Record from the microphone; the same key stops and transcribes (F6)", self.action_talk),
            ("Read replies aloud", "Toggle speaking replies as they stream; Esc stops (F7)", self.action_toggle_speak),
            (
                "Attach image",
                "PNG, JPEG, WebP or GIF, sent with the next prompt (or type /image PATH)",
                self.action_attach_image,
            ),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)

    async def on_unmount(self) -> None:
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
    return 0
