"""The chat: the main screen. It owns the layout, the keys (``CHAT_COMMANDS``), the session and its turns.

The app hands it a connection (:meth:`ChatScreen.connected`); from then on every turn, picker and export happens
here. Core events are applied to widgets as they come; the widgets hold no business logic.

The chat shows one branch of the conversation (:mod:`vt_tui.core.tree`). Alt+Up moves onto the messages; on one,
its keys (``MESSAGE_COMMANDS``) edit and resend its prompt, regenerate its reply, flip between its versions, fork
the conversation there, or copy it. A new version replaces the turn and what followed it on screen; the old ones
stay in the store, a flip away.

Start-up: only what the first frame shows is imported and built before it (the chat column, the status bar).
The side column's panels, the personas, the agent's settings and the core's session machinery come after it
(:meth:`ChatScreen.prepare`); the composer takes keys meanwhile, and a prompt sent early waits for them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from vt_tui import paths
from vt_tui.core.energy import EnergyTally
from vt_tui.settings import Settings
from vt_tui.ui.commands import CHAT_COMMANDS
from vt_tui.ui.failures import ForwardsWorkerFailures, one_line
from vt_tui.ui.widgets.chat_log import (
    AssistantMessage,
    ChatLog,
    UserMessage,
    failure_footer,
    finished_footer,
    stats_line,
)
from vt_tui.ui.widgets.composer import Composer
from vt_tui.ui.widgets.status_bar import Phase, StatusBar
from vt_tui.ui.widgets.voice_bar import VoiceBar

if TYPE_CHECKING:
    from textual.widget import AwaitMount, Widget
    from textual.worker import Worker

    from vt_tui.core.agent import AgentConfig
    from vt_tui.core.attachments import Attachment, AttachmentKind
    from vt_tui.core.events import Event, TurnFailed, TurnStats
    from vt_tui.core.params import GenerationParams
    from vt_tui.core.personas import Persona, PersonaSet
    from vt_tui.core.session import ChatSession, GpuCostHook
    from vt_tui.core.store import Compaction, Store, Turn
    from vt_tui.core.tree import Position
    from vt_tui.engines.connect import Connection
    from vt_tui.gpu.models import Snapshot
    from vt_tui.ui.screens.picker import PickerScreen
    from vt_tui.ui.screens.search import OpenAt
    from vt_tui.ui.widgets.chat_log import CompactionBlock
    from vt_tui.ui.widgets.gpu_pane import GpuPane
    from vt_tui.ui.widgets.tool_panel import ToolPanel
    from vt_tui.voice.controller import Voice

WIDE_WIDTH = 150  # from here the side column widens and the GPU pane shows its sparklines
SIDE_MIN_WIDTH = 100  # below this the side column starts hidden (F3 shows it)


class ChatScreen(ForwardsWorkerFailures, Screen[None]):
    BINDINGS = [command.binding() for command in CHAT_COMMANDS if command.key]
    AUTO_FOCUS = "Composer"

    def __init__(
        self, settings: Settings, store: Store, voice: Voice, gpu_cost: GpuCostHook, conversation_id: int | None = None
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.voice = voice
        self.gpu_cost = gpu_cost
        self.start_conversation = conversation_id
        # Set by prepare(), after the first frame:
        self.agent: AgentConfig | None = None
        self.personas: PersonaSet | None = None
        self.persona: Persona | None = None
        self.tool_panel: ToolPanel | None = None
        self.gpu_pane: GpuPane | None = None
        self.prepared = asyncio.Event()
        self.connection: Connection | None = None
        self.session: ChatSession | None = None
        self.has_session = asyncio.Event()  # a turn typed before the endpoint answers (or while it is away) waits
        self.tools_loaded = asyncio.Event()  # an agent turn waits for the tools and LangChain (seconds to import)
        self.tools_loading = False
        self.side_chosen: bool | None = None  # F3's last word; None: the side column follows the width
        self._turn_worker: Worker[None] | None = None
        self._sending = False  # the running turn has reached the endpoint (Esc then cancels it there)
        self._summary: CompactionBlock | None = None  # the compaction being written
        self.connection_error: str | None = None  # connecting failed for good (Ctrl+R tries again)
        self.model_gone = False  # the last turn's model is no longer served: F2 lists the server's models again
        self.energy = EnergyTally()  # GPU energy of each conversation and of this session
        self.editing: int | None = None  # the turn whose prompt the composer holds, to send as a new version of it
        self._draft: tuple[str, list[Attachment]] | None = None  # what the composer held before the edit
        self._version_of: int | None = None  # the running turn is a new version of this turn (until it starts)
        # Held, not queried: workers may still report into them while the app is shutting down.
        self.chat = ChatLog(id="chat-log", hide_thinking=settings.hide_thinking)
        self.status_bar = StatusBar(id="status")
        self.status_bar.show(speak=voice.speak, endpoint=settings.base_url or "embedded")

    # layout ------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield self.chat
                yield VoiceBar(self.voice, id="voice-bar")
                composer = Composer(
                    id="composer",
                    placeholder="Ask anything — Enter sends, Ctrl+J newline, F6 talks",
                    paste_lines=self.settings.paste_chip_lines,
                )
                yield composer  # its attachments' chips and @path completions are mounted above it when needed
            yield Vertical(id="side")  # its panels come with prepare()
        yield self.status_bar
        yield Footer()

    def on_mount(self) -> None:
        self.fit_side(self.app.size.width)
        if self.start_conversation:  # show the history at once; the endpoint may take seconds
            cid = self.start_conversation
            tree = self.store.tree(cid)
            branch = tree.branch()
            self.call_later(self.show_history, branch, self.store.compactions(cid), tree.positions(branch))
        self.call_after_refresh(self.prepare)

    @work(group="prepare", exit_on_error=False, description="preparing the chat")
    async def prepare(self) -> None:
        """What the first frame does not need: the side column's panels, the personas (files read and parsed in
        a thread: ~20 ms here), the agent's settings."""
        from vt_tui.core.agent import AgentConfig
        from vt_tui.core.conversation import default_persona
        from vt_tui.core.personas import load_personas
        from vt_tui.ui.screens.approval import approver_for
        from vt_tui.ui.widgets.gpu_pane import GpuPane
        from vt_tui.ui.widgets.tool_panel import ToolPanel

        tool_panel, gpu_pane = ToolPanel(id="tool-panel", titles=self.tool_title), GpuPane(id="gpu-pane")
        tool_panel.display = False  # until a session says whether it has tools
        await self.query_one("#side").mount_all([tool_panel, gpu_pane])
        self.tool_panel, self.gpu_pane = tool_panel, gpu_pane  # samples reach the pane once it is mounted
        self.personas = await asyncio.to_thread(load_personas)
        self.persona = default_persona(self.personas, self.settings)
        for problem in self.personas.errors:
            self.notify(problem, title="persona skipped", severity="warning", timeout=10)
        if self.settings.persona and self.persona is None:
            names = ", ".join(self.personas.names())
            self.notify(f"No persona {self.settings.persona!r} (have: {names})", severity="error", timeout=10)
        self.agent = AgentConfig.for_run(self.settings, approver=approver_for(self))
        self.prepared.set()

    def tool_title(self, name: str) -> str:
        """How the tool panel names tool ``name``: "server · tool" for an MCP server's (while it is loaded)."""
        from vt_tui.core.agent.config import tool_title

        tool = self.agent.registry.get(name) if self.agent is not None else None
        return tool_title(tool) if tool is not None else name

    def show_gpu(self, snapshot: Snapshot) -> None:
        """A sample from the app's GPU sampler (dropped until the pane is mounted)."""
        if self.gpu_pane is not None:
            self.gpu_pane.show_snapshot(snapshot)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_side(event.size.width)

    def on_screen_resume(self) -> None:
        self.fit_side(self.app.size.width)  # resized while a dialog was on top: only the top screen hears it

    def fit_side(self, width: int) -> None:
        """The side column for a terminal ``width`` cells wide: hidden when narrow (unless F3 says), wider when wide."""
        side = self.query_one("#side")
        side.set_class(width >= WIDE_WIDTH, "wide")
        side.display = self.side_chosen if self.side_chosen is not None else width >= SIDE_MIN_WIDTH

    # the connection ----------------------------------------------------------------------------------
    async def connected(self, connection: Connection) -> None:
        """The app has an endpoint: open the conversation asked for (or a new one) on it."""
        await self.prepared.wait()
        self.connection = connection
        self.open_session(self.start_conversation, render=False)
        self.has_session.set()

    def reconnect(self) -> None:
        """The server went away after connecting: turns wait again while the app waits for it."""
        self.has_session.clear()
        self.app.reconnect()  # type: ignore[attr-defined]

    def reconnected(self) -> None:
        """The server answers again: a waiting prompt goes out."""
        self.connection_error = None
        self.has_session.set()

    def load_tools(self) -> None:
        """Start loading the tools and LangChain (in threads) the first time a conversation has tools: an agent
        turn waits for them, a plain one never does. With tools off nothing loads: importing LangChain in a thread
        still slowed the first plain turn (the GIL)."""
        if self.tools_loading or self.session is None or self.session.tool_mode() == "off":
            return
        self.tools_loading = True
        self._load_tools()

    @work(group="tools", exit_on_error=False, description="loading the tools")
    async def _load_tools(self) -> None:
        from vt_tui.core.agent import preload
        from vt_tui.core.agent.registry import summary

        assert self.agent is not None
        try:
            registry = await preload(self.agent)
        finally:
            self.tools_loaded.set()  # if loading failed, the turn finds out (and says so) itself
        if registry.errors:
            self.notify(summary(registry.errors), severity="warning", timeout=10)

    def open_session(self, conversation_id: int | None, render: bool = True) -> None:
        """Start a session on the connected endpoint: a new conversation, or a stored one."""
        from vt_tui.core.conversation import ConversationSetup

        assert self.connection is not None and self.personas is not None and self.tool_panel is not None
        if self.editing is not None:
            self.end_edit()
        info = self.store.conversation(conversation_id) if conversation_id else None
        persona = self.personas.get(info.persona) if info and info.persona else self.persona
        endpoint = self.connection.endpoint
        setup = ConversationSetup.build(self.settings, persona, stored=info, models=endpoint.models)
        self.session = setup.session(
            endpoint, self.agent, store=self.store, conversation_id=info.id if info else None, gpu_cost=self.gpu_cost
        )
        self.query_one(Composer).quick_prompts = list(persona.examples) if persona and not info else []
        panel = self.tool_panel
        self.show_tool_calls()
        panel.display = self.session.tool_mode() != "off" or bool(panel.calls)
        self.load_tools()
        self.status_bar.show(model=self.session.model or (self.connection.endpoint.models or [""])[0])
        self.energy.open(self.session.conversation_id, [turn.stats for turn in self.session.turns])
        self.show_energy()
        self.update_context()
        self.know_window()
        if render:
            session = self.session
            self.call_later(self.show_history, session.turns, session.context.compactions, session.positions())
        if persona and not info and (persona.greeting or persona.examples):
            lines = [f"{persona.name}: {persona.greeting}" if persona.greeting else persona.name]
            lines += [f"{n}. {example}" for n, example in enumerate(persona.examples[:9], 1)]
            greeting = Static(Text("\n".join(lines)), classes="greeting")
            # Above a prompt typed while the endpoint was not up yet (it waits in the log): the greeting comes first.
            self.call_later(lambda: self.chat.mount(greeting, before=0 if self.chat.children else None))

    def show_tool_calls(self, turns: list[Turn] | None = None) -> None:
        """The tool panel: the stored calls of the turns on screen (``turns``, else the session's branch; a flip, or
        a new version of an earlier turn, changes which), not those of the other branches."""
        session, panel = self.session, self.tool_panel
        if session is None or panel is None:
            return
        branch = {turn.id for turn in (session.turns if turns is None else turns)}
        calls = session.tool_calls_by_turn()
        panel.load([call for turn_id in sorted(branch & calls.keys()) for call in calls[turn_id]])

    async def show_history(
        self,
        turns: list[Turn],
        compactions: list[Compaction] | None = None,
        positions: dict[int, Position] | None = None,
    ) -> None:
        await self.chat.show_history(turns, compactions or (), positions)
        self.update_context()

    def update_context(self) -> None:
        """The status bar's ``ctx 3.1k / 4k``: what the next request carries, and the window."""
        if self.session:
            usage = self.session.context_usage()
            self.status_bar.show(context_tokens=usage.tokens, context_limit=usage.limit, context_exact=usage.exact)

    @work(group="window", exit_on_error=False, description="asking the context window")
    async def know_window(self) -> None:
        """Ask the server for its window once a session starts, so the status bar shows it before the first turn."""
        session = self.session
        model = session.model if session else None
        if session is not None and (model := model or (session.endpoint.models or [None])[0]):
            await session.context.know(model)
            self.update_context()

    # turns -------------------------------------------------------------------------------------------
    @property
    def turn_running(self) -> bool:
        """A prompt was sent (or is waiting for the endpoint) and its turn has not ended."""
        return self._turn_worker is not None and self._turn_worker.is_running

    def start_turn(self, text: str, attached: list[Attachment], version_of: int | None = None) -> None:
        """Send a prompt after the branch on screen, or as a new version of turn ``version_of``."""
        self._turn_worker = self.run_turn(text, attached, version_of)

    async def on_composer_submitted(self, message: Composer.Submitted) -> None:
        """Attach what the ``/image``, ``/file`` lines and ``@path`` mentions name, then send. A file that can't be
        attached sends nothing: the text goes back as typed, with one line saying which file and why."""
        from vt_tui.core import attachments, mentions
        from vt_tui.core.attachments import AttachmentKind

        composer = message.composer
        wanted, text = attachments.split_command(message.text)
        wanted += [(AttachmentKind.TEXT, path) for path in mentions.mentioned_files(text)]
        try:
            loaded = [attachments.load(path, kind) for kind, path in wanted]
        except attachments.AttachmentError as exc:
            composer.load_text(message.text)  # nothing attached: fix the path and press Enter again
            self.notify(str(exc), title="not attached", severity="error", timeout=8)
            return
        for attachment in loaded:
            composer.attach(attachment)
        if not text and (wanted or not composer.attachments):  # only /image, /file lines: they wait for the prompt
            return
        if self.turn_running:
            composer.load_text(text)
            self.notify("A reply is still streaming — Esc cancels it.", severity="warning")
            return
        if attachments.has_images(composer.attachments) and self.session is not None and self.session.refuses_images():
            self.give_back(text, [])
            self.refuse_images()
            return
        edited = self.editing
        self.start_turn(text, composer.take_attachments(), edited)
        if edited is not None:
            self.end_edit()

    def give_back(self, text: str, attached: list[Attachment]) -> None:
        """Put a prompt that was not sent back in the composer (unless something new was typed meanwhile); a new
        version of a turn comes back as an edit of it."""
        composer = self.query_one(Composer)
        if self._version_of is not None and self.editing is None:
            self._hold_draft()
            self.editing = self._version_of
            composer.mark_editing(True)
        if not composer.text:
            composer.load_text(text)
        for attachment in attached:
            composer.attach(attachment)

    def refuse_images(self) -> None:
        """The endpoint takes no images: say so before sending (the prompt and images stay in the composer)."""
        from vt_tui.core.session import no_vision

        assert self.session is not None
        error = no_vision(self.session.endpoint.profile.title)
        self.notify(error.hint, title=error.message, severity="error", timeout=10)

    @work(group="turn", exit_on_error=False, description="the turn")
    async def run_turn(self, text: str, attached: list[Attachment], version_of: int | None = None) -> None:
        """The turn, from the prompt on screen to the end of its reply. A new version of a turn (``version_of``)
        takes that turn's place on screen, and what followed it; if it never starts, they come back."""
        from vt_tui.core.errors import ErrorKind

        self._sending = False
        self._version_of = version_of
        if version_of is not None:
            await self._show_up_to(version_of)
        try:
            user: UserMessage | None = await self.chat.add_user(text, attached)
            while user is not None and await self._ready_to_send(user, text, attached):
                self._sending = True
                failed = await self._send(text, attached, user)
                if failed is None:
                    return
                if failed.error.kind is ErrorKind.CONTEXT_OVERFLOW:  # the user chooses a fit, or edits the message
                    user = await self._make_fit(failed, text, attached, user)
                    continue
                # Nothing listens any more (the server went away between turns and is not back yet): the prompt
                # waits, marked, while the app waits for the server, and goes out again once it answers.
                self._sending = False
                self.reconnect()
        finally:
            if self._version_of is not None:  # the new version never started: the branch comes back
                self._version_of = None
                await self._show_from(version_of)

    async def _show_up_to(self, turn_id: int) -> None:
        """The branch on screen up to turn ``turn_id``, not included (a new version of it comes next)."""
        assert self.session is not None
        tree = self.session.tree
        branch = tree.path(tree.parent(turn_id))
        if self.chat.message_of(turn_id, UserMessage) is not None:
            await self.chat.cut(turn_id)
        else:  # not on screen (an edit started before a flip): the branch to its parent, drawn again
            await self.show_history(branch, self.session.context.compactions, tree.positions(branch))
        self.show_tool_calls(branch)

    async def _show_from(self, turn_id: int | None) -> None:
        """Undo :meth:`_show_up_to`: the branch on screen from turn ``turn_id`` on, after what is shown."""
        assert self.session is not None
        turns = self.session.turns
        index = next((n for n, turn in enumerate(turns) if turn.id == turn_id), None)
        if index is None:  # it was not on the branch shown: that branch, drawn again
            await self.show_history(turns, self.session.context.compactions, self.session.positions())
        else:
            await self.chat.add_turns(turns[index:], self.session.positions())
        self.show_tool_calls()

    async def _ready_to_send(self, user: UserMessage, text: str, attached: list[Attachment]) -> bool:
        """Wait until the prompt can go out: the endpoint answering (the prompt marked as waiting meanwhile), the
        tools loaded. False, or cancelled (Esc), puts the prompt back in the composer."""
        from vt_tui.core.attachments import has_images

        try:
            if self.connection_error is not None:  # connecting failed for good: nothing to wait for
                await user.remove()
                self.give_back(text, attached)
                self.notify(self.connection_error, title="not connected", severity="error", timeout=10)
                return False
            if not self.has_session.is_set():
                user.show_waiting(self.endpoint_url)
                await self._waiting(self.has_session, "waiting for the endpoint…")
                user.show_waiting(None)
            assert self.session is not None
            if has_images(attached) and self.session.refuses_images():  # sent before the endpoint was known
                await user.remove()
                self.give_back(text, attached)
                self.refuse_images()
                return False
            if self.session.tool_mode() != "off" and not self.tools_loaded.is_set():
                await self._waiting(self.tools_loaded, "loading the tools…")
        except asyncio.CancelledError:  # Esc before anything was sent: the prompt goes back to the composer
            await user.remove()
            self.give_back(text, attached)
            raise
        return True

    @property
    def endpoint_url(self) -> str:
        """What a waiting prompt waits for, in its words."""
        if self.connection is not None:
            return self.connection.endpoint.base_url
        return self.settings.base_url or "the embedded model"

    async def _send(self, text: str, attached: list[Attachment], user: UserMessage) -> TurnFailed | None:
        """One attempt at the turn. A failure comes back for :meth:`run_turn` to act on: a context overflow (sent or
        not: the user chooses a fit), or a request that never reached the server (sent again once it answers)."""
        assert self.session is not None
        reply = AssistantMessage(self.session.model or "")
        mounting = self.chat.mount(reply)  # awaited at the first text: the request goes out meanwhile
        self.status_bar.show(phase=Phase.STREAMING, message="")
        await self.voice.reply_started()
        try:
            return await self._stream(self.session, text, attached, user, reply, mounting)
        except Exception as exc:  # not a failed request (that ends as TurnFailed): a fault; the app logs it
            self.voice.stop_speech()
            await mounting
            reply.finish(None, failure_footer("failed", one_line(exc)), failed=True)
            self.status_bar.show(phase=Phase.ERROR, message=f"the turn stopped: {one_line(exc)}")
            raise
        finally:
            self.update_context()

    async def _make_fit(
        self, failed: TurnFailed, text: str, attached: list[Attachment], user: UserMessage
    ) -> UserMessage | None:
        """The message is over the window: ask (drop the oldest turns, compact, or edit) and do it. The message to
        send again (a new one when the first reached the server and failed there), or None."""
        from vt_tui.core.errors import Overflow
        from vt_tui.ui.screens.context import ContextScreen, FitChoice

        assert self.session is not None
        sent = user.turn_id is not None
        relief = self.session.relief(failed.error.overflow or Overflow(None, None))
        choice = await self.app.push_screen_wait(ContextScreen(failed.error, relief))
        fits = choice is FitChoice.DROP
        if fits:
            self._context_event(self.session.drop_turns(relief.drop), None if sent else user)
        elif choice is FitChoice.COMPACT:
            fits = await self._compact(relief.compact, None if sent else user)
        if not fits:  # edit (Esc), or the compaction failed: the message goes back to the composer
            if not sent:
                await user.remove()
            self.give_back(text, attached)
            self.status_bar.show(phase=Phase.IDLE, message="not sent: the message is back in the composer")
            return None
        return await self.chat.add_user(text, attached) if sent else user

    async def _waiting(self, event: asyncio.Event, note: str) -> None:
        """Wait for ``event`` with ``note`` in the status bar (unless it already says why, e.g. an error)."""
        noted = not self.status_bar.status.message
        if noted:
            self.status_bar.show(message=note)
        try:
            await event.wait()
        finally:
            if noted and self.status_bar.status.message == note:
                self.status_bar.show(message="")

    async def _stream(
        self,
        session: ChatSession,
        text: str,
        attached: list[Attachment],
        user: UserMessage,
        reply: AssistantMessage,
        mounting: AwaitMount | None,
    ) -> TurnFailed | None:
        """Apply the turn's events to the reply, the tool panel, the status bar and the voice. Returns a failure
        for the caller to act on, else None: a request that never reached the server (nothing listened, nothing came
        back; the reply's widget gone), to send again; or a context overflow, sent or not (the reply's widget gone
        if nothing was sent), for the user to choose a fit.

        The reply's widget is mounted while the request goes out (TurnStarted comes before it is sent): a first
        turn waited ~100 ms here for Markdown's first import before sending.
        """
        from vt_tui.core.errors import ErrorKind
        from vt_tui.core.events import (
            ReasoningDelta,
            ReasoningFinished,
            StoreFailed,
            TextDelta,
            ToolCallFinished,
            ToolCallStarted,
            TurnFailed,
            TurnFinished,
            TurnStarted,
        )
        from vt_tui.core.reasoning import stats_thought_line, thought_line

        panel = self.tool_panel
        assert panel is not None
        answered = False  # text, reasoning or a tool call came back
        handed_back: TurnFailed | None = None
        self.model_gone = False
        hide_thinking = self.settings.hide_thinking
        thinking: list[str] = []
        async for event in session.run_turn(text, attached, sibling_of=self._version_of):
            if isinstance(event, TurnStarted):
                reply.model = event.model
                user.turn_id = reply.turn_id = event.turn_id
                self._version_of = None  # started: an attempt after this one follows it
                position = session.position(event.turn_id)
                if position.count > 1:
                    user.show_position(position)
                    reply.show_position(position)
                self.status_bar.show(model=event.model)
                continue
            if mounting is not None:
                await mounting
                mounting = None
            if isinstance(event, TextDelta):
                answered = True
                reply.append(event.text)
                self.voice.reply_text(event.text)
            elif isinstance(event, ToolCallStarted):
                answered = True
                panel.add_call(event)
            elif isinstance(event, ToolCallFinished):
                panel.finish_call(event)
            elif isinstance(event, ReasoningDelta):
                answered = True
                thinking.append(event.text)
                if hide_thinking:
                    reply.show_footer("thinking…")
                else:
                    reply.think(event.text)
            elif isinstance(event, ReasoningFinished):
                reply.thought(thought_line(event.duration_s, event.tokens))
            elif isinstance(event, StoreFailed):
                self.notify(event.message, title="conversation not saved", severity="error", timeout=10)
            elif isinstance(event, TurnFinished):
                if event.stats.thinking_s is not None:
                    reply.thought(stats_thought_line(event.stats))  # the server's token count, if it gave one
                reply.finish(event.text, finished_footer(event.text, "".join(thinking), event.stats))
                self.voice.reply_done()
                self.count_energy(event.stats)
                self.status_bar.show(phase=Phase.IDLE, figures=stats_line(event.stats))
            elif isinstance(event, TurnFailed):
                self.voice.stop_speech()
                self.count_energy(event.stats)
                if event.error.kind is ErrorKind.CONNECTION and not answered and not event.cancelled:
                    handed_back = event  # never reached the server: shown nowhere, sent again
                    user.turn_id = None
                    await reply.remove()
                    continue
                too_long = event.error.kind is ErrorKind.CONTEXT_OVERFLOW
                said = str(event.error)
                if event.error.kind is ErrorKind.MODEL_NOT_FOUND:  # the core's hint also speaks to `ask` users
                    self.model_gone = True
                    said = f"{event.error.message} — F2 picks another model, then Ctrl+R sends the prompt again"
                status = "cancelled" if event.cancelled else "failed"
                if too_long and user.turn_id is None:  # not sent: the dialog says why, no empty reply stays
                    await reply.remove()
                else:  # what cannot fit the window is not worth a Ctrl+R
                    reply.finish(event.partial_text, failure_footer(status, said, retry=not too_long), failed=True)
                if event.cancelled:
                    self.status_bar.show(phase=Phase.IDLE, message="cancelled")
                elif too_long and user.turn_id is None:
                    self.status_bar.show(phase=Phase.IDLE, message="not sent: over the context window")
                else:
                    self.status_bar.show(phase=Phase.ERROR, message=said)
                if too_long:
                    handed_back = event
            else:
                self._context_event(event, reply)
        return handed_back

    def count_energy(self, stats: TurnStats | None) -> None:
        """Add a turn's energy to the conversation's and the session's totals in the status bar."""
        if stats is None or self.session is None:
            return
        self.energy.add(self.session.conversation_id, stats)
        self.show_energy()

    def show_energy(self) -> None:
        conversation = self.energy.conversation(self.session.conversation_id if self.session else None)
        session = self.energy.session
        self.status_bar.show(
            conversation_wh=conversation.wh if conversation.measured else None,
            session_wh=session.wh if session.measured else None,
        )

    def _context_event(self, event: Event, before: Widget | None = None) -> None:
        """Turns dropped, a silent cut by the server, a compaction (shown above ``before``, if given: the message
        waiting to be sent, or its reply)."""
        from vt_tui.core.events import (
            CompactionFailed,
            CompactionFinished,
            CompactionStarted,
            ContextTrimmed,
            ContextTruncated,
            SummaryDelta,
        )
        from vt_tui.ui.widgets.chat_log import CompactionBlock

        place = {"before": before} if before is not None and before.is_attached else {}
        if isinstance(event, ContextTrimmed):
            self.chat.mark_context(event.turn_ids, False)
            self.chat.mount(Static(Text(f"── {event.message} ──"), classes="divider"), **place)
            self.notify(event.message, title="context window")
        elif isinstance(event, ContextTruncated):
            self.notify(event.message, title="prompt cut by the server", severity="warning", timeout=12)
        elif isinstance(event, CompactionStarted):
            self._summary = CompactionBlock(len(event.turn_ids), event.tokens_before)
            self.chat.mount(self._summary, **place)
            self.status_bar.show(phase=Phase.STREAMING, message="compacting: the model writes a summary…")
        elif isinstance(event, SummaryDelta) and self._summary is not None:
            self._summary.append(event.text)
        elif isinstance(event, CompactionFinished) and self._summary is not None:
            compaction = next(c for c in self.session.context.compactions if c.id == event.compaction_id)
            self._summary.finish(compaction)
            self._summary = None
            self.chat.mark_context(event.turn_ids, False)
            self.status_bar.show(message="")
            self.notify(
                f"{len(event.turn_ids)} turns compacted: ~{event.tokens_before:,} → {event.tokens_after:,} tokens"
            )
        elif isinstance(event, CompactionFailed) and self._summary is not None:
            why = "cancelled" if event.cancelled else event.error.message
            self._summary.fail(why)
            self._summary = None
            self.status_bar.show(phase=Phase.IDLE if event.cancelled else Phase.ERROR, message=f"not compacted: {why}")

    async def _compact(self, turn_ids: tuple[int, ...] | None = None, before: Widget | None = None) -> bool:
        """Have the model summarise the earlier turns, streaming into a block in the chat; True if it did."""
        from vt_tui.core.events import CompactionFinished

        assert self.session is not None
        done = False
        try:
            async for event in self.session.compact(turn_ids):
                self._context_event(event, before)
                done = done or isinstance(event, CompactionFinished)
        finally:
            self.update_context()
        if done:
            self.status_bar.show(phase=Phase.IDLE)
        return done

    def not_connected(self, why: str) -> None:
        """Connecting failed for good (a wrong key or URL): a prompt waiting for it goes back to the composer,
        and so does one typed later, until Ctrl+R connects."""
        self.connection_error = f"{why} — Ctrl+R tries again"
        if self._turn_worker is not None and self._turn_worker.is_running and not self._sending:
            self._turn_worker.cancel()
            self.notify(why, title="not connected", severity="error", timeout=10)

    def cancel_turn(self) -> None:
        self.voice.stop_speech()
        if self.session is not None and self.session.busy:
            self.session.cancel()  # the partial reply is kept and marked
        elif self._turn_worker is not None and not self._sending:
            self._turn_worker.cancel()  # still waiting for the endpoint: nothing was sent

    # actions -----------------------------------------------------------------------------------------
    def action_cancel(self) -> None:
        if self.query_one(Composer).close_completions() or self.query_one(VoiceBar).discard():
            return
        if self.focused_message() is not None:
            self.action_leave_messages()
        elif self.editing is not None:
            self.end_edit()
        elif self.turn_running:
            self.cancel_turn()
        elif self.voice.speaking:
            self.voice.stop_speech()

    def action_retry(self) -> None:
        lifecycle = self.app.lifecycle  # type: ignore[attr-defined]
        if lifecycle is not None:  # waiting for the endpoint (at start, or since it went away): try again now
            lifecycle.retry_now()
            return
        if self.connection_error is not None:  # it failed for good: connect again
            self.connection_error = None
            if self.connection is None:
                self.app.connect()  # type: ignore[attr-defined]
            else:
                self.reconnect()
            return
        if self.session is None:
            return
        failed = [t for t in self.session.turns if t.status in ("failed", "cancelled")]
        if not failed:
            self.notify("Nothing to retry.")
            return
        if not self.turn_running:  # the last turn: a new version of it (the failed one kept); an earlier: sent again
            turn = failed[-1]
            self.start_turn(turn.user_text, turn.attachments, turn.id if turn is self.session.turns[-1] else None)

    def action_talk(self) -> None:
        self.query_one(VoiceBar).toggle()

    def action_toggle_speak(self) -> None:
        on = self.voice.toggle_speak()
        self.status_bar.show(speak=on)
        self.notify("Replies will be read aloud (F7 stops)" if on else "Replies are no longer read aloud")

    def on_voice_bar_transcribed(self, message: VoiceBar.Transcribed) -> None:
        composer = self.query_one(Composer)
        if self.settings.voice_send and not self.turn_running and not composer.text.strip():
            self.start_turn(message.text, composer.take_attachments())
            return
        joiner = "" if not composer.text or composer.text.endswith((" ", "\n")) else " "
        composer.move_cursor(composer.document.end)  # after what is typed, for review
        composer.insert(joiner + message.text)
        composer.focus()

    def action_attach(self, kind: str) -> None:
        """The palette's "Attach image" and "Attach file": a dialog asks for the path."""
        from vt_tui.core.attachments import AttachmentKind
        from vt_tui.ui.screens.attach import AttachScreen

        wanted = AttachmentKind(kind)
        self.app.push_screen(AttachScreen(wanted), lambda path: self.attach(path, wanted))

    def attach(self, path: str | None, kind: AttachmentKind) -> None:
        from vt_tui.core import attachments

        if not path:
            return
        try:
            attachment = attachments.load(path, kind)
        except attachments.AttachmentError as exc:
            self.notify(str(exc), title="not attached", severity="error", timeout=8)
            return
        composer = self.query_one(Composer)
        composer.attach(attachment)
        composer.focus()

    def action_new_conversation(self) -> None:
        if self.connection is not None and not self.turn_running:
            self.open_session(None)
            self.status_bar.show(figures="")

    def action_open_conversation(self) -> None:
        from vt_tui.ui.screens.search import SearchScreen

        self.app.push_screen(SearchScreen(self.store, self.delete_conversation), self.open_found)

    def open_found(self, found: OpenAt | None) -> None:
        """Open what the search dialog picked, at the message found (if one was)."""
        from vt_tui.core.search import HitSide

        if found is None or self.connection is None:
            return
        if self.turn_running:
            self.notify("A reply is still streaming — Esc cancels it, then Ctrl+O again.", severity="warning")
            return
        if found.turn_id is not None:
            self.store.show_turn(found.conversation_id, found.turn_id)
        self.open_session(found.conversation_id)
        if found.turn_id is not None:  # after the history is shown (call_later runs in order)
            self.call_later(self.chat.reveal, found.turn_id, found.side is HitSide.USER)

    def delete_conversation(self, conversation_id: int) -> str | None:
        """Delete a stored conversation (the search dialog asked first); the open one gives way to a fresh one.
        Why not, or None."""
        open_id = self.session.conversation_id if self.session is not None else self.start_conversation
        if conversation_id == open_id and self.turn_running:
            return "a reply is streaming into it — Esc cancels it first"
        self.store.delete(conversation_id)
        if conversation_id == open_id:
            self.start_conversation = None
            if self.connection is not None:
                self.open_session(None)
            else:
                self.call_later(self.show_history, [])
            self.status_bar.show(figures="")
        return None

    def action_switch_persona(self) -> None:
        from vt_tui.ui.screens.picker import PickerScreen

        personas = self.personas
        if personas is None:
            return

        def rows(query: str):
            for p in personas.personas.values():
                if query.lower() in f"{p.name} {p.description}".lower():
                    yield p.name, f"{p.name}  ·  {p.description}"

        def picked(name: str | None) -> None:
            if name and self.connection is not None and not self.turn_running:
                self.persona = personas.get(name)
                self.open_session(None)
                self.notify(f"Persona: {name} (new conversation)")

        self.app.push_screen(PickerScreen("Switch persona", lambda q: list(rows(q))), picked)

    def action_edit_params(self) -> None:
        from vt_tui.core.params import ignored_by
        from vt_tui.ui.screens.params import ParamsScreen

        if self.session is None:
            return
        session = self.session

        def applied(params: GenerationParams | None) -> None:
            if params is not None:
                session.params = params
                self.notify("Generation parameters updated for this conversation")

        self.app.push_screen(ParamsScreen(session.params, ignored_by(session.endpoint.profile)), applied)

    def action_compact(self) -> None:
        if self.session is None or self.turn_running:
            return
        if not any(t.counts_as_history for t in self.session.turns):
            self.notify("Nothing to compact: no earlier turn is sent.")
            return
        self._turn_worker = self.run_compaction()

    @work(group="turn", exit_on_error=False, description="compacting")
    async def run_compaction(self) -> None:
        self._sending = True
        await self._compact()

    def action_undo_compaction(self) -> None:
        if self.session is None or self.turn_running:
            return
        compaction = self.session.undo_compaction()
        if compaction is None:
            self.notify("No compaction to undo.")
            return
        self.chat.mark_context(compaction.turn_ids, True)
        for shown in self.session.context.compactions:
            if shown.id in (compaction.id, compaction.folds) and (block := self.chat.compaction_block(shown.id)):
                block.show(shown)
        self.update_context()
        self.notify(f"Compaction undone: {len(compaction.turn_ids)} turns are sent again")

    def action_toggle_thinking(self) -> None:
        block = self.chat.thinking_in_view()
        if block is None:
            self.notify("No reply here has thinking to show.")
            return
        block.toggle()
        if block.shown and not block.live:  # read it from its first line
            self.chat.release_anchor()
            self.chat.scroll_to_widget(block, top=True, animate=False)

    def action_toggle_all_thinking(self) -> None:
        from vt_tui.ui.widgets.thinking import ThinkingBlock

        blocks = list(self.chat.query(ThinkingBlock))
        if not blocks:
            self.notify("No reply here has thinking to show.")
            return
        shown = not all(block.shown for block in blocks)
        for block in blocks:
            block.toggle(shown)

    def action_cycle_thinking(self) -> None:
        """The conversation's thinking setting, to the next level (auto → off → low → medium → high → auto)."""
        from dataclasses import replace

        from vt_tui.core.profiles import Thinking

        if self.session is None:
            return
        session = self.session
        levels = list(Thinking)
        level = levels[(levels.index(session.params.thinking) + 1) % len(levels)]
        session.params = replace(session.params, thinking=level)
        self.notify(session.endpoint.profile.thinking.describe(level), title=f"Thinking: {level}")

    def action_clear_context(self) -> None:
        if self.session:
            self.session.clear_context()
            self.chat.mount(Static(Text("── context cleared: earlier turns are no longer sent ──"), classes="divider"))
            self.update_context()

    def action_switch_model(self) -> None:
        from vt_tui.ui.screens.picker import PickerScreen

        if self.connection is None:
            return
        endpoint = self.connection.endpoint
        gone = self.session.model if self.model_gone and self.session else None

        def picked(model: str | None) -> None:
            if model and self.session:
                self.session.model = model
                self.model_gone = False
                self.status_bar.show(model=model)
                self.notify(f"Model: {model}" + (" — Ctrl+R sends the prompt again" if gone else ""))

        title = f"Switch model ({gone} is gone: the server's models now)" if gone else "Switch model"
        picker = PickerScreen(title, lambda q: [(m, m) for m in endpoint.models if q.lower() in m.lower()])
        self.app.push_screen(picker, picked)
        if gone:  # the server was restarted with other models: list them again, as they are now
            self._list_models(picker)

    @work(group="models", exclusive=True, exit_on_error=False, description="listing the models")
    async def _list_models(self, picker: PickerScreen) -> None:
        from vt_tui.core.errors import EndpointError

        assert self.connection is not None
        try:
            await self.connection.endpoint.list_models()
        except EndpointError as exc:
            self.notify(str(exc), title="models not listed", severity="error", timeout=10)
            return
        if picker.is_attached:
            picker.search_again()

    def action_copy_reply(self) -> None:
        text = self.chat.last_reply()
        if text:
            self.copy(text, "the last reply")

    def copy(self, text: str, what: str) -> None:
        """To the clipboard: the terminal's (OSC 52, so over SSH too)."""
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {what} ({len(text):,} chars)")

    def action_copy_code(self) -> None:
        from vt_tui.core import export

        code = export.last_code_block(self.chat.last_reply())
        if code is None:
            self.notify("The last reply has no code block.")
            return
        self.app.copy_to_clipboard(code)
        self.notify(f"Copied the last code block ({len(code.splitlines())} lines)")

    def action_export(self, kind: str, every_branch: bool = False) -> Path | None:
        """The branch on screen as Markdown (``md``) or JSON, or (``every_branch``) every version of it."""
        from vt_tui.core import export

        if self.session is None or not self.session.turns:
            self.notify("Nothing to export yet.")
            return None
        cid = self.session.conversation_id
        info = self.store.conversation(cid) if cid else None
        branches = self.session.tree.branches() if every_branch else []
        folder = paths.private_dir(paths.data_dir() / "exports")
        which = "-all" if every_branch else ""
        path = folder / f"conversation-{cid}{which}-{time.strftime('%Y%m%d-%H%M%S')}.{kind}"
        if kind == "md":
            body = export.to_markdown(info, self.session.turns, branches)
        else:
            body = export.to_json(info, self.session.turns, self.store.tool_calls(cid) if cid else (), branches)
        path.write_text(body, encoding="utf-8")
        count = f" ({len(branches)} branch{'es' if len(branches) != 1 else ''})" if every_branch else ""
        self.notify(f"Exported{count} to {path}")
        return path

    def action_mcp_servers(self) -> None:
        from vt_tui.core.mcp.config import HOW_TO
        from vt_tui.ui.screens.mcp import McpScreen

        manager = self.app.mcp  # type: ignore[attr-defined]
        if manager is not None:
            self.app.push_screen(McpScreen(lambda: manager.statuses))
        elif not self.settings.mcp_servers:
            self.app.push_screen(
                McpScreen(list, f"No MCP servers configured: {HOW_TO.format(config=paths.config_file())}.")
            )
        else:
            self.app.push_screen(McpScreen(list, "Not started: tools are off (tools = off), so no server runs."))

    def action_toggle_side(self) -> None:
        side = self.query_one("#side")
        self.side_chosen = not side.display
        side.display = self.side_chosen

    async def action_scroll_chat(self, where: str) -> None:
        await self.chat.go(where)

    # the messages: moving onto them, and what their keys do -------------------------------------------
    def focused_message(self) -> UserMessage | AssistantMessage | None:
        """The message that has focus (or holds the widget that has: a reply's thinking)."""
        focused = self.focused
        if focused is None:
            return None
        return next((w for w in (focused, *focused.ancestors) if isinstance(w, UserMessage | AssistantMessage)), None)

    async def action_select_message(self, direction: int) -> None:
        """Onto the message before (-1) or after (+1) the focused one; from the composer, the last one. Down from
        the last message goes back to the composer."""
        current = self.focused_message()
        target = await self.chat.neighbour(current, direction)
        if target is not None:
            self.focus_message(target)
        elif current is not None and direction > 0:
            self.action_leave_messages()

    def focus_message(self, message: UserMessage | AssistantMessage) -> None:
        message.focus(scroll_visible=False)
        self.call_after_refresh(self._scroll_to, message)  # laid out: one just mounted (a flip) has no size yet

    def _scroll_to(self, message: UserMessage | AssistantMessage) -> None:
        """Scroll the chat to ``message``. A chat shorter than the screen stays anchored: it shows it all, and
        stays at the bottom when a flip changes its height."""
        if message.is_attached and self.chat.max_scroll_y > 0:
            self.chat.release_anchor()
            tall = message.outer_size.height >= self.chat.scrollable_content_region.height
            self.chat.scroll_to_widget(message, animate=False, top=tall)  # a long one from its first line

    def action_leave_messages(self) -> None:
        self.query_one(Composer).focus()
        self.chat.anchor()

    def turn_to_act_on(self) -> Turn | None:
        """The turn of the focused message, else the last turn on screen (from the palette); None, said, if none."""
        if self.session is None or not self.session.turns:
            self.notify("No message yet.")
            return None
        message = self.focused_message()
        turn_id = self.session.turns[-1].id if message is None else message.turn_id
        turn = self.session.tree.nodes.get(turn_id) if turn_id is not None else None
        if turn is None:
            self.notify("This prompt has not been sent yet.")
        return turn

    def can_send_now(self) -> bool:
        """Connected and no turn running (else said)."""
        if self.turn_running:
            self.notify("A reply is still streaming — Esc cancels it.", severity="warning")
            return False
        if self.session is None or self.connection is None:
            self.notify("Not connected yet.", severity="warning")
            return False
        return True

    def action_edit_prompt(self) -> None:
        """The turn's prompt (and attachments) into the composer, marked: Enter sends it as a new version of the turn,
        Esc gives the composer back what it held."""
        turn = self.turn_to_act_on()
        if turn is None:
            return
        composer = self.query_one(Composer)
        if self.editing is None:
            self._hold_draft()
        else:
            composer.take_attachments()  # the previous edit's
        self.editing = turn.id
        composer.load_text(turn.user_text)
        composer.move_cursor(composer.document.end)
        for attachment in turn.attachments:
            composer.attach(attachment)
        composer.mark_editing(True)
        composer.focus()

    def _hold_draft(self) -> None:
        """Keep what the composer holds aside while it edits a prompt (:meth:`end_edit` brings it back)."""
        composer = self.query_one(Composer)
        self._draft = (composer.text, composer.take_attachments())
        composer.clear()

    def end_edit(self) -> None:
        """Stop editing: the composer holds what it held before."""
        composer = self.query_one(Composer)
        text, attached = self._draft or ("", [])
        self.editing, self._draft = None, None
        composer.mark_editing(False)
        composer.take_attachments()
        composer.load_text(text)
        composer.move_cursor(composer.document.end)
        for attachment in attached:
            composer.attach(attachment)

    def action_regenerate(self) -> None:
        """Ask again for the turn's reply: a new version, the earlier ones kept."""
        turn = self.turn_to_act_on()
        if turn is not None and self.can_send_now():
            self.action_leave_messages()  # the new version streams at the bottom, followed
            self.start_turn(turn.user_text, list(turn.attachments), turn.id)

    async def action_flip(self, step: int) -> None:
        """Show the turn's previous (-1) or next (+1) version, and the conversation that followed that one."""
        message = self.focused_message()
        turn = self.turn_to_act_on()
        if turn is None or self.session is None:
            return
        if self.turn_running:
            self.notify("A reply is still streaming — Esc cancels it.", severity="warning")
            return
        shown = self.session.flip(turn.id, step)
        if shown is None:
            count = self.session.position(turn.id).count
            self.notify("This is the only version." if count == 1 else "No version that way.")
            return
        turns = self.session.turns
        index = next(n for n, t in enumerate(turns) if t.id == shown)
        await self.chat.cut(turn.id)
        await self.chat.add_turns(turns[index:], self.session.positions())
        self.show_tool_calls()
        kind = AssistantMessage if isinstance(message, AssistantMessage) else UserMessage
        target = self.chat.message_of(shown, kind)
        if message is not None and target is not None:
            self.focus_message(target)
        self.update_context()

    def action_fork(self) -> None:
        """A new conversation with this one up to the turn, opened."""
        from vt_tui.core.store import StoreError

        turn = self.turn_to_act_on()
        if turn is None or self.session is None or not self.can_send_now():
            return
        try:
            fork = self.session.fork(turn.id)
        except StoreError as exc:
            self.notify(exc.hint, title=exc.message, severity="error", timeout=10)
            return
        self.open_session(fork)
        self.query_one(Composer).focus()
        info = self.store.conversation(fork)
        self.notify(f"Forked: {info.title if info else fork} (the original is in Ctrl+O)")

    def action_copy_message(self) -> None:
        message = self.focused_message()
        if message is None:
            self.action_copy_reply()
        else:
            self.copy(message.text, "the prompt" if isinstance(message, UserMessage) else "the reply")
