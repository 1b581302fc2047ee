"""The chat log: user prompts and streamed Markdown replies. Widgets only render what the core reports."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from vt_tui.core.reasoning import no_answer, stats_thought_line
from vt_tui.core.sanitize import inert
from vt_tui.ui.commands import MESSAGE_BINDINGS
from vt_tui.ui.failures import ForwardsWorkerFailures
from vt_tui.ui.thumbnail import thumbnail
from vt_tui.ui.widgets.thinking import ThinkingBlock

if TYPE_CHECKING:
    from textual.timer import Timer

    from vt_tui.core.attachments import Attachment
    from vt_tui.core.events import TurnStats
    from vt_tui.core.store import Compaction, Turn
    from vt_tui.core.tree import Position

HISTORY_PAGE = 6  # at most this many turns mounted per page of history, so long conversations open fast
HISTORY_PAGE_CHARS = 3000  # ...and no more text than about a screenful (rendering Markdown is the cost)
FOUND_S = 6.0  # how long a message a search opened stays marked


def stats_line(stats: TurnStats | dict | None) -> str:
    """'TTFT 0.21 s · 128 tok · 41.2 tok/s · 3.3 s' (and J/token when the GPU pane measured it, with the GPUs it
    counted: '2.24 J/tok on GPU 0', or 'on all GPUs' when the server's GPUs could not be found)."""
    from vt_tui.core.events import TurnStats

    if stats is None:
        return ""
    if isinstance(stats, dict):
        stats = TurnStats(**stats)
    parts = []
    if stats.ttft_s is not None:
        parts.append(f"TTFT {stats.ttft_s:.2f} s")
    counted = "" if stats.tokens_source == "server" else "~"
    parts.append(f"{counted}{stats.tokens} tok")
    if stats.tok_per_s:
        parts.append(f"{stats.tok_per_s:.1f} tok/s")
    parts.append(f"{stats.duration_s:.1f} s")
    if stats.joules_per_token is not None:
        where = f" on {stats.gpus}" if stats.gpus else ""
        parts.append(f"{stats.joules_per_token:.2f} J/tok{where}")
    return " · ".join(parts)


def finished_footer(answer: str, thinking: str, stats: TurnStats | dict | None) -> str:
    """The footer of a reply that finished: its figures, after a warning when it only thought."""
    reason = stats.get("finish_reason") if isinstance(stats, dict) else stats.finish_reason if stats else None
    missing = no_answer(answer, thinking, reason)
    return f"⚠ {missing} · {stats_line(stats)}" if missing else stats_line(stats)


def failure_footer(status: str, error: str, retry: bool = True) -> str:
    """The footer of a reply that did not finish: why, and what to do (Ctrl+R, said once: a hint that ends in
    "retry" becomes "retry with Ctrl+R"; not said with ``retry`` False: what cannot fit the window never will)."""
    if "Ctrl+R" in error or not retry:
        return f"✗ {status}: {error}"
    if error.endswith("retry"):
        return f"✗ {status}: {error} with Ctrl+R"
    return f"✗ {status}: {error} — Ctrl+R retries"


def page_start(turns: list[Turn]) -> int:
    """Index of the first turn of the last page: up to HISTORY_PAGE turns and ~HISTORY_PAGE_CHARS of text."""
    start, chars = len(turns), 0
    while start > 0 and len(turns) - start < HISTORY_PAGE and (chars < HISTORY_PAGE_CHARS or start == len(turns)):
        start -= 1
        chars += len(turns[start].user_text) + len(turns[start].assistant_text)
    return start


def version_mark(position: Position) -> str:
    return f"‹ {position} ›"


class UserMessage(ForwardsWorkerFailures, Static):
    """What the user sent, shown verbatim: never parsed as markup; each attachment as a line under it (name and
    size), an image's followed by a small picture of it (decoded in a worker thread once the message is on screen);
    while the prompt waits for the endpoint, a line saying so (:meth:`show_waiting`); and "‹ 2/3 ›" when it was
    edited (:meth:`show_position`).

    It takes focus (Alt+Up): its keys are ``MESSAGE_COMMANDS``."""

    can_focus = True
    FOCUS_ON_CLICK = False  # only Alt+Up: its keys act at once, and a click then typing would regenerate or fork
    BINDINGS = MESSAGE_BINDINGS

    def __init__(
        self,
        text: str,
        attachments: Sequence[Attachment] = (),
        turn_id: int | None = None,
        position: Position | None = None,
    ) -> None:
        self.text = text
        self.attachments = list(attachments)
        self.turn_id = turn_id  # known once the turn started (for marking it out of context)
        self.position = position
        self.pictures: list[Text | None] = []
        self.waiting_for: str | None = None
        super().__init__(self._shown(), classes="message user")

    def show_position(self, position: Position | None) -> None:
        """Which version of the prompt this is, shown when there are others (edits; regenerations repeat it)."""
        self.position = position
        self.update(self._shown())

    def _shown(self) -> Text:
        shown = Text(inert(self.text))
        if self.position is not None and self.position.edited:
            shown.append(f"  {version_mark(self.position)}", style="bold")
        for n, attachment in enumerate(self.attachments):
            shown.append(f"\n📎 {inert(attachment.describe())}", style="dim")
            picture = self.pictures[n] if n < len(self.pictures) else None
            if picture is not None:
                shown.append("\n")
                shown.append_text(picture)
        if self.waiting_for is not None:
            shown.append(f"\n⏳ waiting for {inert(self.waiting_for)} — sent once it answers", style="italic")
        return shown

    def show_waiting(self, endpoint: str | None) -> None:
        """Mark the prompt as waiting for ``endpoint`` (a URL, or "the embedded model"); None: it is on its way."""
        self.waiting_for = endpoint
        self.update(self._shown())

    def on_mount(self) -> None:
        if self.attachments:
            self.run_worker(
                self._draw_pictures,
                thread=True,
                group="thumbnails",
                exit_on_error=False,
                description="drawing the attached pictures",
            )

    def _draw_pictures(self) -> None:
        from vt_tui.core.attachments import AttachmentKind  # loaded already: the attachments come from it

        pictures = [thumbnail(a.data) if a.kind is AttachmentKind.IMAGE else None for a in self.attachments]
        if any(pictures):
            with suppress(RuntimeError):  # the app has stopped
                self.app.call_from_thread(self._show_pictures, pictures)

    def _show_pictures(self, pictures: list[Text | None]) -> None:
        self.pictures = pictures
        self.update(self._shown())


SEGMENT_CHARS = 1500  # a reply is drawn as Markdown segments of about this size, split at block boundaries
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def boundaries(text: str) -> Iterator[int]:
    """Offsets just after a blank line outside code fences: cutting there gives two documents that render
    like the whole."""
    in_fence, offset = False, 0
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        offset += len(line)
        if not in_fence and not line.strip() and offset < len(text):
            yield offset


def segments(text: str) -> list[str]:
    """``text`` cut at the first boundary past every ``SEGMENT_CHARS`` characters."""
    parts, start = [], 0
    for cut in boundaries(text):
        if cut - start >= SEGMENT_CHARS:
            parts.append(text[start:cut])
            start = cut
    return [*parts, text[start:]]


FRAME_S = 0.05  # the streaming tail is redrawn at most this often (20 Hz): the eye sees no difference


class MarkdownView(Static):
    """One segment of a reply, drawn by Rich's Markdown as a single widget.

    Textual's Markdown widget makes a widget per block and per table cell and re-lays them out on every
    append; measured here it fell 15 s behind a 2,000 tok/s stream. One Rich renderable per segment keeps
    each redraw bounded by the segment's size.
    """

    def __init__(self, source: str = "") -> None:
        super().__init__(classes="reply")
        self.source = ""
        self.set_source(source)

    def set_source(self, source: str) -> None:
        self.source = source
        if not source:  # a reply not started yet: no need to import Markdown (~100 ms the first time) for it
            self.update("")
            return
        from rich.markdown import Markdown as RichMarkdown

        self.update(RichMarkdown(source, code_theme="monokai", hyperlinks=False))


class AssistantMessage(Vertical):
    """One reply: its thinking (if any, :class:`ThinkingBlock`), then Markdown redrawn as it streams (at most every
    ``FRAME_S``), then a footer: "‹ 2/3 ›" when it has other versions, and the figures.

    It takes focus (Alt+Up): its keys are ``MESSAGE_COMMANDS``.

    Long replies are a column of segments cut at block boundaries: only the last (the tail) is redrawn while
    streaming, so a frame costs the same at token 20,000 as at token 20; the final render redraws the tail. The
    thinking streams on the same frame clock, and folds when the answer starts.
    """

    can_focus = True
    FOCUS_ON_CLICK = False  # only Alt+Up: its keys act at once, and a click then typing would regenerate or fork
    BINDINGS = MESSAGE_BINDINGS

    def __init__(
        self,
        model: str = "",
        text: str = "",
        footer: str = "",
        failed: bool = False,
        thinking: str = "",
        thought: str = "Thought",
        turn_id: int | None = None,
        position: Position | None = None,
    ) -> None:
        """``thinking`` and ``thought`` (its one-line summary): a stored reply's; folded unless it is all there is.
        ``turn_id``: known once the turn started (for marking it out of context). ``position``: among its
        versions."""
        super().__init__(classes="message assistant")
        self.model = model
        self.turn_id = turn_id
        self.position = position
        self.footer_text = footer
        self.thinking = ThinkingBlock(thinking, thought, shown=not text.strip()) if thinking.strip() else None
        self._parts: list[str] = [inert(text)]
        self._tail_start = 0  # offset in the text where the tail segment begins
        self._drawn_at = 0.0
        self._pending: Timer | None = None
        self.footer = Static(classes="reply-footer")
        self.show_footer(footer, failed)

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0]

    @property
    def tail(self) -> MarkdownView:
        return self.query(MarkdownView).last()

    def compose(self):
        if self.thinking is not None:
            yield self.thinking
        *frozen, tail = segments(self.text)
        self._tail_start = len(self.text) - len(tail)
        for piece in [*frozen, tail]:
            yield MarkdownView(piece)
        yield self.footer

    def think(self, fragment: str) -> None:
        """Add streamed thinking, drawn on the same frame clock as the answer."""
        if self.thinking is None:
            self.thinking = ThinkingBlock(live=True, shown=True)
            self.mount(self.thinking, before=0)
        elif not self.thinking.live:  # thinking again, in a later agent step
            self.thinking.resume()
        self.thinking.add(fragment)
        self._schedule()

    def thought(self, summary: str) -> None:
        """The thinking's one-line summary ("Thought for 3.2 s · 812 tokens")."""
        if self.thinking is not None:
            self.thinking.summarize(summary)

    def append(self, fragment: str) -> None:
        """Add streamed text; it is drawn now if the last frame is old enough, else on the next frame. The first
        text folds the thinking above it."""
        self._parts.append(inert(fragment))
        if self.thinking is not None and self.thinking.live:
            self.thinking.settle(shown=False)
        self._schedule()

    def _schedule(self) -> None:
        """Draw now if the last frame is old enough, else when it is (:meth:`_frame_due`)."""
        wait = self._drawn_at + FRAME_S - time.monotonic()
        if wait <= 0:
            self.draw()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self._frame_due)

    def _frame_due(self) -> None:
        """A frame's timer fired. Its call waits behind the widget's other messages: when the loop is busy a new
        piece of text may have drawn the frame meanwhile, and drawing again repeated it (frames 0.4 ms apart,
        155 of them in the 5 s of a thought where 100 are the most)."""
        if time.monotonic() - self._drawn_at >= FRAME_S / 2:
            self.draw()

    def draw(self) -> None:
        """Redraw the tail; when it has grown past two segments, freeze its head at a block boundary. While the
        model thinks, redraw the thinking instead."""
        self._pending = None
        self._drawn_at = time.monotonic()
        if self.thinking is not None and self.thinking.live:
            self.thinking.draw_live()
            return
        tail_text = self.text[self._tail_start :]
        if len(tail_text) > 2 * SEGMENT_CHARS:
            cut = max((b for b in boundaries(tail_text) if b >= SEGMENT_CHARS), default=None)
            if cut is not None:
                self.mount(MarkdownView(tail_text[:cut]), before=self.tail)
                self._tail_start += cut
                tail_text = tail_text[cut:]
        self.tail.set_source(tail_text)

    def finish(self, text: str | None = None, footer: str = "", failed: bool = False) -> None:
        """The turn ended: one final full render of the tail (with the server's final text if given)."""
        if self._pending is not None:
            self._pending.stop()
        if text is not None:
            self._parts = [inert(text)]
        if self.thinking is not None and self.thinking.live:  # it never got to an answer: the thought is all
            self.thinking.settle(shown=not self.text.strip())
        self.draw()
        self.show_footer(footer, failed)

    def show_footer(self, footer: str, failed: bool = False) -> None:
        self.footer_text = footer
        self.footer.set_class(failed, "failed")
        self.set_class(failed, "failed")
        self._draw_footer()

    def show_position(self, position: Position | None) -> None:
        """Which version of the reply this is, shown when there are others."""
        self.position = position
        self._draw_footer()

    def _draw_footer(self) -> None:
        shown = Text()
        if self.position is not None:
            shown.append(version_mark(self.position), style="bold")
            if self.footer_text:
                shown.append(" · ")
        shown.append(self.footer_text)
        self.footer.update(shown)
        self.footer.display = bool(shown)


class CompactionBlock(Collapsible):
    """A compaction in the chat: folded to one line (what it stands for, the tokens before and after, whether it is
    in force); expanded, the summary the model wrote. It streams like a reply while the model writes it."""

    DEFAULT_CSS = """
    CompactionBlock {
        margin: 1 0 0 0;
        border-top: none;
        border-left: outer $accent 50%;
        padding: 0;
        background: $boost;
    }
    CompactionBlock > Contents {
        padding: 0 1 0 3;
    }
    CompactionBlock.undone {
        opacity: 60%;
    }
    """

    def __init__(self, turns: int, tokens_before: int, compaction: Compaction | None = None) -> None:
        self.turns = turns
        self.tokens_before = tokens_before
        self.compaction_id = compaction.id if compaction else None
        self.summary = Static(Text(inert(compaction.summary) if compaction else ""), classes="summary")
        self._parts: list[str] = []
        super().__init__(
            self.summary, title=self._heading("the model writes a summary…"), collapsed=compaction is not None
        )
        if compaction is not None:
            self.show(compaction)

    def _heading(self, state: str) -> str:
        return f"{self.turns} turn{'s' if self.turns != 1 else ''} {state}"

    def append(self, text: str) -> None:
        self._parts.append(inert(text))
        self.summary.update(Text("".join(self._parts)))

    def show(self, compaction: Compaction) -> None:
        """The compaction as it stands: in force, folded into a later one, undone or cleared."""
        self.compaction_id = compaction.id
        self.summary.update(Text(inert(compaction.summary)))
        states = {
            "active": "the summary is sent instead",
            "folded": "summarised again later",
            "undone": "undone: the turns are sent again",
            "cleared": "cleared with the context",
        }
        state = states.get(str(compaction.status), str(compaction.status))
        self.title = self._heading(f"compacted: ~{self.tokens_before:,} → {compaction.tokens_after:,} tokens ({state})")
        self.set_class(compaction.status != "active", "undone")

    def finish(self, compaction: Compaction) -> None:
        self.show(compaction)
        self.collapsed = True

    def fail(self, why: str) -> None:
        self.title = self._heading(f"not compacted: {why}")
        self.add_class("undone")


class EarlierMarker(Static):
    """Stands for the turns not mounted yet (long conversations open fast)."""

    count: reactive[int] = reactive(0)

    def __init__(self, count: int) -> None:
        super().__init__(classes="divider")
        self.count = count

    def render(self) -> Text:
        return Text(f"▲ {self.count:,} earlier turns — Ctrl+Home loads more")


class ChatLog(VerticalScroll):
    """Follows the stream while at the bottom; scrolling up releases it until the user returns.

    A stored conversation opens with its last page of turns (:func:`page_start`); the earlier ones wait behind an
    :class:`EarlierMarker` and are mounted a page at a time when the user reaches the top. What is shown is one
    branch of the conversation: another version of a turn replaces it and everything after it (:meth:`cut`, then
    :meth:`add_turns`).
    """

    can_focus = True

    DEFAULT_CSS = """
    ChatLog {
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    ChatLog:focus {
        background-tint: $foreground 3%;
    }
    .message {
        margin: 1 0 0 0;
        height: auto;
    }
    .message.user {
        color: $text;
        background: $boost;
        border-left: outer $primary;
        padding: 0 1;
    }
    .message.assistant {
        border-left: outer $secondary 50%;
        padding: 0 0 0 1;
    }
    .message.assistant.failed {
        border-left: outer $error;
    }
    .message:focus, .message.assistant.failed:focus {
        border-left: thick $accent;
        background: $accent 15%;
    }
    .message.out-of-context {
        opacity: 55%;
    }
    .message.found {
        background: $accent 25%;
        border-left: outer $accent;
    }
    .reply-footer {
        color: $text-muted;
        height: auto;
    }
    .reply-footer.failed {
        color: $text-error;
    }
    .greeting {
        color: $text-muted;
        margin: 1 0 0 2;
    }
    .divider {
        color: $text-muted;
        text-align: center;
        margin: 1 0 0 0;
    }
    """

    def __init__(self, *, hide_thinking: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.unrendered: list[Turn] = []  # stored turns above the first one mounted
        self.compactions: dict[int | None, list[Compaction]] = {}  # by the turn they show after
        self.context_marks: dict[int, bool] = {}  # turn id -> sent or not, as changed since the turns were read
        self.positions: Mapping[int, Position] = {}  # turn id -> which of its versions it is (those with others)
        self.hide_thinking = hide_thinking  # the hide_thinking setting: stored replies show no thinking either

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new <= 0 < old and self.unrendered:
            self.call_later(self.load_earlier)

    def on_mount(self) -> None:
        self.anchor()
        self.call_after_refresh(self._warm_markdown)

    def _warm_markdown(self) -> None:
        """Import Rich's Markdown (markdown-it, ~100 ms here) on a thread after the first frame, so the first
        reply's first token does not wait for it."""
        self.run_worker(
            partial(importlib.import_module, "rich.markdown"),
            thread=True,
            group="warm-markdown",
            exit_on_error=False,
            description="loading Markdown",
        )

    async def add_user(self, text: str, attachments: Sequence[Attachment] = ()) -> UserMessage:
        widget = UserMessage(text, attachments)
        await self.mount(widget)
        return widget

    async def add_assistant(self, model: str) -> AssistantMessage:
        widget = AssistantMessage(model)
        await self.mount(widget)
        return widget

    def messages(self) -> list[UserMessage | AssistantMessage]:
        return [w for w in self.children if isinstance(w, UserMessage | AssistantMessage)]

    def last_reply(self) -> str:
        replies = [w for w in self.messages() if isinstance(w, AssistantMessage) and w.text]
        return replies[-1].text if replies else ""

    # history ---------------------------------------------------------------------------------------
    async def show_history(
        self, turns: list[Turn], compactions: Sequence[Compaction] = (), positions: Mapping[int, Position] | None = None
    ) -> None:
        """Replace what is shown with the latest page of ``turns`` (and the compactions among them); older ones
        wait above (Ctrl+Home)."""
        self.compactions, self.context_marks, self.positions = {}, {}, positions or {}
        for compaction in compactions:
            self.compactions.setdefault(compaction.after_turn_id, []).append(compaction)
        await self.remove_children()
        start = page_start(turns)
        self.unrendered = turns[:start]
        await self.mount_all(self._turn_widgets(turns[start:]))
        await self._update_earlier_marker()
        self.anchor()

    async def load_earlier(self, start: int | None = None) -> None:
        """Mount the page of turns just above the first one shown, keeping the user's place; or every turn from
        ``start`` (an index in the turns not mounted yet) down to it, for :meth:`reveal`."""
        if not self.unrendered:
            return
        start = page_start(self.unrendered) if start is None else start
        page, self.unrendered = self.unrendered[start:], self.unrendered[:start]
        marker = self.query_one(EarlierMarker)
        old_first = next(iter(self.messages()), None)
        await self.mount_all(self._turn_widgets(page), after=marker)
        await self._update_earlier_marker()
        if old_first is not None:  # the new page sits above it
            self.scroll_to_widget(old_first, top=True, animate=False, immediate=True)

    def message_of(self, turn_id: int, kind: type[Widget]) -> UserMessage | AssistantMessage | None:
        """The prompt (``kind`` UserMessage) or the reply (AssistantMessage) of a turn on screen."""
        return next((w for w in self.messages() if w.turn_id == turn_id and isinstance(w, kind)), None)

    async def cut(self, turn_id: int) -> None:
        """Take turn ``turn_id`` off the screen, with everything after it."""
        first = self.message_of(turn_id, UserMessage)
        if first is not None:
            await self.remove_children(self.children[self.children.index(first) :])

    async def add_turns(self, turns: list[Turn], positions: Mapping[int, Position]) -> None:
        """Show ``turns`` after what is shown (the rest of a branch, after :meth:`cut`)."""
        self.positions = positions
        await self.mount_all(self._turn_widgets(turns))

    async def neighbour(self, message: Widget | None, direction: int) -> UserMessage | AssistantMessage | None:
        """The message before (-1) or after (+1) ``message``; from none, the last one. Going up past the first
        mounted one loads the page above it."""
        shown = self.messages()
        if message not in shown:
            return shown[-1] if shown and direction < 0 else None
        index = shown.index(message) + direction
        if index < 0 and self.unrendered:
            await self.load_earlier()
            shown = self.messages()
            index = shown.index(message) - 1
        return shown[index] if 0 <= index < len(shown) else None

    def _turn_widgets(self, turns: list[Turn]) -> list[Widget]:
        widgets: list[Widget] = []
        for turn in turns:
            position = self.positions.get(turn.id)
            failed = turn.status != "ok"
            if failed:
                footer = failure_footer(turn.status, turn.error or "")
            else:
                footer = finished_footer(turn.assistant_text, turn.thinking, turn.stats)
            thinking = "" if self.hide_thinking else turn.thinking
            pair: list[Widget] = [
                UserMessage(turn.user_text, turn.attachments, turn.id, position),
                AssistantMessage(
                    turn.model,
                    turn.assistant_text,
                    footer,
                    failed,
                    thinking,
                    stats_thought_line(turn.stats),
                    turn_id=turn.id,
                    position=position,
                ),
            ]
            in_context = self.context_marks.get(turn.id, turn.in_context)
            for widget in pair:
                widget.set_class(not failed and not in_context, "out-of-context")
            widgets += pair
            widgets += [CompactionBlock(len(c.turn_ids), c.tokens_before, c) for c in self.compactions.get(turn.id, ())]
        return widgets

    def mark_context(self, turn_ids: Sequence[int], in_context: bool) -> None:
        """Show these turns as sent again, or as kept on screen only (out of context)."""
        wanted = set(turn_ids)
        self.context_marks.update(dict.fromkeys(wanted, in_context))  # for those not mounted yet, too
        for widget in self.messages():
            if getattr(widget, "turn_id", None) in wanted:
                widget.set_class(not in_context, "out-of-context")

    def compaction_block(self, compaction_id: int) -> CompactionBlock | None:
        return next((b for b in self.query(CompactionBlock) if b.compaction_id == compaction_id), None)

    async def _update_earlier_marker(self) -> None:
        markers = self.query(EarlierMarker)
        if not self.unrendered:
            await markers.remove()
        elif markers:
            markers.first().count = len(self.unrendered)
        else:
            await self.mount(EarlierMarker(len(self.unrendered)), before=0)

    # moving around ---------------------------------------------------------------------------------
    async def go(self, where: str) -> None:
        """``top`` (loading the next page of earlier turns), ``bottom`` (following again), ``pageup``, ``pagedown``."""
        if where == "top":
            self.release_anchor()
            if self.scroll_y == 0:  # already at the top: no scroll event will come to load more
                await self.load_earlier()
            self.scroll_home(animate=False)
        elif where == "bottom":
            self.anchor()
        elif where == "pageup":
            self.release_anchor()
            self.scroll_page_up(animate=False)
        else:
            self.scroll_page_down(animate=False)

    async def reveal(self, turn_id: int, user: bool) -> Widget | None:
        """Scroll to the prompt (``user``) or the reply of turn ``turn_id`` and mark it for ``FOUND_S``: the message
        a search found. A turn above the page shown is mounted first, with those below it."""
        index = next((n for n, turn in enumerate(self.unrendered) if turn.id == turn_id), None)
        if index is not None:
            await self.load_earlier(index)
        kind = UserMessage if user else AssistantMessage
        target = next((w for w in self.messages() if isinstance(w, kind) and w.turn_id == turn_id), None)
        if target is None:
            return None
        self.release_anchor()
        target.add_class("found")
        self.set_timer(FOUND_S, partial(target.remove_class, "found"))
        self.call_after_refresh(self.scroll_to_widget, target, top=True, animate=False)  # once laid out
        return target

    def thinking_in_view(self) -> ThinkingBlock | None:
        """The thinking of the reply the user is on: the focused one, else the lowest one on screen, else the last."""
        replies = [w for w in self.messages() if isinstance(w, AssistantMessage) and w.thinking is not None]
        focused = self.screen.focused
        for reply in replies:
            if focused is not None and (focused is reply or reply in focused.ancestors):
                return reply.thinking
        top, bottom = self.scroll_y, self.scroll_y + self.size.height
        seen = [r for r in replies if r.virtual_region.y < bottom and r.virtual_region.bottom > top]
        return (seen or replies)[-1].thinking if replies else None
