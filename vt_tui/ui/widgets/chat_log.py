"""The chat log: user prompts and streamed Markdown replies. Widgets only render what the core reports."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream

from vt_tui.core.events import TurnStats
from vt_tui.core.sanitize import inert


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
    """What the user sent, shown verbatim: never parsed as markup."""

    def __init__(self, text: str) -> None:
        super().__init__(Text(inert(text)), classes="message user")
        self.text = text


class AssistantMessage(Vertical):
    """One reply: Markdown streamed as it arrives, then a footer with figures or the error."""

    def __init__(self, model: str = "", text: str = "", footer: str = "", failed: bool = False) -> None:
        super().__init__(classes="message assistant")
        self.model = model
        self.text = inert(text)
        self._stream: MarkdownStream | None = None
        self.markdown = Markdown(self.text, classes="reply")
        self.footer = Static(Text(footer), classes="reply-footer")
        self.footer.display = bool(footer)
        self.set_class(failed, "failed")
        self.footer.set_class(failed, "failed")

    def compose(self):
        yield self.markdown
        yield self.footer

    async def append(self, fragment: str) -> None:
        fragment = inert(fragment)
        self.text += fragment
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        await self._stream.write(fragment)

    async def finish(self, text: str | None = None, footer: str = "", failed: bool = False) -> None:
        """Stop streaming and render the whole reply once (streamed code fences can stay blank otherwise)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if text is not None:
            self.text = inert(text)
        await self.markdown.update(self.text)
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

    async def add_user(self, text: str) -> UserMessage:
        widget = UserMessage(text)
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
