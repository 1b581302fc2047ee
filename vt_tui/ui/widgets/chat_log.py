"""The chat log: user prompts and streamed Markdown replies. Widgets only render what the core reports."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from vt_tui.core.attachments import Attachment
from vt_tui.core.events import TurnStats
from vt_tui.core.sanitize import inert
from vt_tui.ui.thumbnail import thumbnail

if TYPE_CHECKING:
    from textual.timer import Timer


def stats_line(stats: TurnStats | dict | None) -> str:
    """'TTFT 0.21 s · 128 tok · 41.2 tok/s · 3.3 s' (and J/token when the GPU pane measured it)."""
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
        parts.append(f"{stats.joules_per_token:.2f} J/tok")
    return " · ".join(parts)


class UserMessage(Static):
    """What the user sent, shown verbatim: never parsed as markup; each attached image as a line under it, then a
    small picture of it (decoded in a worker thread once the message is on screen)."""

    def __init__(self, text: str, attachments: Sequence[Attachment] = ()) -> None:
        self.text = text
        self.attachments = list(attachments)
        super().__init__(self._shown(), classes="message user")

    def _shown(self, pictures: Sequence[Text | None] = ()) -> Text:
        shown = Text(inert(self.text))
        for n, attachment in enumerate(self.attachments):
            shown.append(f"\n📎 {inert(attachment.describe())}", style="dim")
            picture = pictures[n] if n < len(pictures) else None
            if picture is not None:
                shown.append("\n")
                shown.append_text(picture)
        return shown

    def on_mount(self) -> None:
        if self.attachments:
            self.run_worker(self._draw_pictures, thread=True, group="thumbnails", exit_on_error=False)

    def _draw_pictures(self) -> None:
        pictures = [thumbnail(a.data) for a in self.attachments]
        if any(pictures):
            with suppress(RuntimeError):  # the app has stopped
                self.app.call_from_thread(self.update, self._shown(pictures))


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
        from rich.markdown import Markdown as RichMarkdown

        self.source = source
        self.update(RichMarkdown(source, code_theme="monokai", hyperlinks=False))


class AssistantMessage(Vertical):
    """One reply: Markdown redrawn as it streams (at most every ``FRAME_S``), then a footer.

    Long replies are a column of segments cut at block boundaries: only the last (the tail) is redrawn while
    streaming, so a frame costs the same at token 20,000 as at token 20; the final render redraws the tail.
    """

    def __init__(self, model: str = "", text: str = "", footer: str = "", failed: bool = False) -> None:
        super().__init__(classes="message assistant")
        self.model = model
        self._parts: list[str] = [inert(text)]
        self._tail_start = 0  # offset in the text where the tail segment begins
        self._drawn_at = 0.0
        self._pending: Timer | None = None
        self.footer = Static(Text(footer), classes="reply-footer")
        self.footer.display = bool(footer)
        self.set_class(failed, "failed")
        self.footer.set_class(failed, "failed")

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0]

    @property
    def tail(self) -> MarkdownView:
        return self.query(MarkdownView).last()

    def compose(self):
        *frozen, tail = segments(self.text)
        self._tail_start = len(self.text) - len(tail)
        for piece in [*frozen, tail]:
            yield MarkdownView(piece)
        yield self.footer

    def append(self, fragment: str) -> None:
        """Add streamed text; it is drawn now if the last frame is old enough, else on the next frame."""
        self._parts.append(inert(fragment))
        wait = self._drawn_at + FRAME_S - time.monotonic()
        if wait <= 0:
            self.draw()
        elif self._pending is None:
            self._pending = self.set_timer(wait, self.draw)

    def draw(self) -> None:
        """Redraw the tail; when it has grown past two segments, freeze its head at a block boundary."""
        self._pending = None
        self._drawn_at = time.monotonic()
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
        self.draw()
        self.show_footer(footer, failed)

    def show_footer(self, footer: str, failed: bool = False) -> None:
        self.footer.update(Text(footer))
        self.footer.set_class(failed, "failed")
        self.set_class(failed, "failed")
        self.footer.display = bool(footer)


class EarlierMarker(Static):
    """Stands for the turns not mounted yet (long conversations open fast)."""

    count: reactive[int] = reactive(0)

    def __init__(self, count: int) -> None:
        super().__init__(classes="divider")
        self.count = count

    def render(self) -> Text:
        return Text(f"▲ {self.count:,} earlier turns — Ctrl+Home loads more")


class ChatLog(VerticalScroll):
    """Follows the stream while at the bottom; scrolling up releases it until the user returns."""

    can_focus = True

    class ReachedTop(Message):
        """The user scrolled to the top: time to show earlier turns, if any are held back."""

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new <= 0 < old and self.query(EarlierMarker):
            self.post_message(self.ReachedTop())

    def on_mount(self) -> None:
        self.anchor()

    async def add_user(self, text: str, attachments: Sequence[Attachment] = ()) -> UserMessage:
        widget = UserMessage(text, attachments)
        await self.mount(widget)
        return widget

    async def add_assistant(self, model: str) -> AssistantMessage:
        widget = AssistantMessage(model)
        await self.mount(widget)
        return widget

    def messages(self) -> list[Static | AssistantMessage]:
        return [w for w in self.children if isinstance(w, UserMessage | AssistantMessage)]

    def jump(self, direction: int) -> None:
        """Scroll to the previous (-1) or next (+1) message."""
        top = self.scroll_y
        targets = [w for w in self.messages() if (w.virtual_region.y - top) * direction > 0]
        if targets:
            target = targets[-1] if direction < 0 else targets[0]
            self.release_anchor()
            self.scroll_to_widget(target, top=True, animate=False)
