"""The composer: Enter sends, Ctrl+J adds a newline, Up/Down recall earlier prompts; its attachments as chips
above it, and the completions of an ``@path`` being typed.

The chips and the completion list are the composer's own: it makes them, the screen places them above it. The
core's attachment and mention modules are imported when first used, not before the first frame.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.containers import HorizontalScroll
from textual.message import Message
from textual.widgets import OptionList, Static, TextArea
from textual.widgets.option_list import Option

from vt_tui.core.sanitize import inert

if TYPE_CHECKING:
    from vt_tui.core.attachments import Attachment
    from vt_tui.core.mentions import Completions


class Chip(Static, can_focus=True):
    """One attachment waiting to be sent: its name and size. Delete removes it; Enter puts a text one back into
    the composer as text."""

    BINDINGS: ClassVar = [
        Binding("delete,backspace", "remove", "Remove", id="remove-attachment"),
        Binding("enter", "as_text", "As text", id="attachment-as-text"),
        Binding("left", "app.focus_previous", "Previous", show=False),
        Binding("right", "app.focus_next", "Next", show=False),
    ]

    DEFAULT_CSS = """
    Chip {
        width: auto;
        height: 1;
        margin-right: 1;
        padding: 0 1;
        background: $boost;
        color: $text-muted;
    }
    Chip:focus {
        background: $accent;
        color: $text;
    }
    """

    def __init__(self, composer: Composer, attachment: Attachment) -> None:
        super().__init__(Text(f"📎 {inert(attachment.describe())}"))
        self.composer = composer
        self.attachment = attachment

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        from vt_tui.core.attachments import AttachmentKind  # loaded already: the attachment comes from it

        return action != "as_text" or self.attachment.kind is AttachmentKind.TEXT  # an image has no text to put back

    def action_remove(self) -> None:
        self.composer.detach(self.attachment)

    def action_as_text(self) -> None:
        self.composer.unfold(self.attachment)


class AttachmentChips(HorizontalScroll, can_focus=False):
    """The composer's attachments in a row (hidden while there are none); Shift+Tab from the composer reaches them."""

    DEFAULT_CSS = """
    AttachmentChips {
        height: 1;
        margin: 0 1;
        scrollbar-size-horizontal: 0;
        display: none;
    }
    AttachmentChips > .chips-hint {
        width: auto;
        color: $text-muted;
        text-style: dim;
    }
    AttachmentChips.-shown {
        display: block;
    }
    """

    async def show(self, composer: Composer, focus: int | None = None) -> None:
        """Draw ``composer``'s attachments; ``focus``: the chip to focus (the last one when past the end), or
        the composer again when none is left."""
        await self.remove_children()
        chips = [Chip(composer, attachment) for attachment in composer.attachments]
        hint = Static("Shift+Tab: remove, or put back as text", classes="chips-hint")
        await self.mount_all([*chips, hint] if chips else [])
        self.set_class(bool(chips), "-shown")
        if focus is not None:
            (chips[min(focus, len(chips) - 1)] if chips else composer).focus()


class PathCompletions(OptionList, can_focus=False):
    """What the ``@path`` being typed can become. The composer keeps the focus and drives it: Up/Down move, Tab or
    Enter picks, Esc closes; a click picks too."""

    DEFAULT_CSS = """
    PathCompletions {
        height: auto;
        max-height: 9;
        margin: 0 1;
        border: none;
        background: $boost;
        display: none;
    }
    PathCompletions.-shown {
        display: block;
    }
    """

    def __init__(self, composer: Composer) -> None:
        super().__init__()
        self.composer = composer
        self.paths: tuple[str, ...] = ()

    def offer(self, completions: Completions) -> None:
        from vt_tui.core.mentions import SCAN_LIMIT

        self.paths = completions.paths
        options = [Option(Text(f"@{inert(path)}")) for path in self.paths]
        if completions.partial:
            note = f"… only the first {SCAN_LIMIT:,} entries of this folder were read"
            options.append(Option(Text(note, style="dim italic"), disabled=True))
        self.set_options(options)
        self.highlighted = 0 if self.paths else None
        self.set_class(bool(self.paths), "-shown")

    def close(self) -> bool:
        """Hide the list; False when it was not shown."""
        if not self.is_attached:  # never needed yet (the composer mounts it on first use)
            return False
        shown = self.has_class("-shown")
        self.paths = ()
        self.clear_options()
        self.remove_class("-shown")
        return shown

    @property
    def open(self) -> bool:
        return bool(self.paths)

    def move(self, step: int) -> None:
        self.highlighted = ((self.highlighted or 0) + step) % len(self.paths)

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.composer.pick(event.option_index)


class Composer(TextArea):
    """A multi-line prompt box. Terminals send Shift+Enter as Enter, so the newline key is Ctrl+J."""

    # Shown in the footer; handled in _on_key, in order with the typed characters. (A priority binding would
    # run from the app's queue and could send before the last characters, still queued here, were inserted.)
    BINDINGS = [
        Binding("enter", "submit", "Send", show=True),
        Binding("ctrl+j", "newline", "Newline", show=True),
    ]

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 12;
        border: round $primary 50%;
    }
    Composer:focus {
        border: round $primary;
    }
    Composer.editing, Composer.editing:focus {
        border: round $warning;
        border-title-color: $warning;
    }
    """

    @dataclass
    class Submitted(Message):
        composer: Composer
        text: str

    def __init__(self, prompts: list[str] | None = None, paste_lines: int = 0, **kwargs) -> None:
        """``paste_lines``: a paste of more lines than this becomes an attachment chip (0: never)."""
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.prompts: list[str] = prompts or []
        self.quick_prompts: list[str] = []  # a persona's examples: keys 1-9 send them while the box is empty
        self._recall: int | None = None  # index into history while recalling
        self._draft = ""
        self.paste_lines = paste_lines
        self.attachments: list[Attachment] = []  # images and text waiting to go with the next prompt
        self.chips = AttachmentChips()
        self.completions = PathCompletions(self)
        self._typed: str | None = None  # the @path being completed

    # attachments
    def attach(self, attachment: Attachment) -> None:
        """Add ``attachment`` to the next prompt (once: the same file named twice is sent once)."""
        if attachment not in self.attachments:
            self.attachments.append(attachment)
            self._show_chips()

    def detach(self, attachment: Attachment) -> None:
        """Take ``attachment`` off the next prompt (its chip's Delete)."""
        index = self.attachments.index(attachment)
        del self.attachments[index]
        self._show_chips(focus=index)

    def unfold(self, attachment: Attachment) -> None:
        """Put a text attachment back into the box as text, at the cursor (its chip's Enter)."""
        self.attachments.remove(attachment)
        self._show_chips()
        self.insert(attachment.text)
        self.focus()

    def take_attachments(self) -> list[Attachment]:
        """The pending attachments, handed over to a turn (the box forgets them)."""
        taken, self.attachments = self.attachments, []
        self._show_chips()
        return taken

    def _show_chips(self, focus: int | None = None) -> None:
        if self.is_attached:
            self.run_worker(partial(self._draw_chips, focus), group="chips", exclusive=True, exit_on_error=False)

    async def _draw_chips(self, focus: int | None) -> None:
        await self._place(self.chips)
        await self.chips.show(self, focus)

    async def _place(self, widget: AttachmentChips | PathCompletions) -> None:
        """Mount the chips row or the completion list right above the box the first time it is needed: mounted
        with the box, the two hidden widgets made the launch 5–8 % slower (bench/startup.py: 1.27–1.29× of
        ``import textual.app`` without them, 1.32–1.36× with)."""
        if widget.is_attached or self.parent is None:
            return
        above = self.completions if widget is self.chips and self.completions.is_attached else self
        await self.parent.mount(widget, before=above)

    async def _on_paste(self, event: events.Paste) -> None:
        """A paste of more than ``paste_lines`` lines becomes a chip ("pasted · 214 lines · 9.1 KB"); a shorter
        one is typed in (TextArea's own handler, next in line), and so is one too large to attach, with a word."""
        from vt_tui.core.attachments import PASTED, Attachment, AttachmentError, line_count

        # Terminals send a pasted newline as CR (xterm, tmux: it is what the Enter key sends); the box reads CR as a
        # line break, and so must the count and the attachment.
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        lines = line_count(text)
        if not self.paste_lines or lines <= self.paste_lines:
            return
        taken = sum(1 for a in self.attachments if a.name == PASTED or a.name.startswith(f"{PASTED} "))
        try:
            pasted = Attachment.from_text(f"{PASTED} {taken + 1}" if taken else PASTED, text)
        except AttachmentError as exc:
            self.notify(f"{exc}: pasted as text instead", title="paste not attached", severity="warning")
            return
        event.prevent_default()
        self.attach(pasted)

    # @path completion
    def on_text_area_changed(self) -> None:
        self._complete()

    def on_text_area_selection_changed(self) -> None:
        self._complete()

    def _complete(self) -> None:
        """Offer completions for the ``@path`` the cursor is at the end of (read in a thread: a slow folder never
        holds up typing); close the list when there is none."""
        from vt_tui.core.mentions import typing_mention

        row, column = self.cursor_location
        typed = typing_mention(self.document[row][:column]) if self.selection.is_empty else None
        if typed == self._typed:
            return
        self._typed = typed
        if typed is None:
            self.completions.close()
            return
        self._read_completions(typed)

    @work(group="path-completion", exclusive=True, exit_on_error=False, description="completing a path")
    async def _read_completions(self, typed: str) -> None:
        from vt_tui.core.mentions import complete

        found = await asyncio.to_thread(complete, typed, Path.cwd())
        if typed == self._typed:
            await self._place(self.completions)
            self.completions.offer(found)

    def pick(self, index: int | None = None) -> None:
        """Put the highlighted completion (or ``index``) in place of the ``@path`` being typed: a folder keeps the
        list open on its entries, a file ends the mention with a space."""
        offered = self.completions.paths
        index = self.completions.highlighted if index is None else index
        if self._typed is None or index is None or not 0 <= index < len(offered):
            return
        path = offered[index]
        row, column = self.cursor_location
        self.completions.close()
        done = self.replace(path if path.endswith("/") else path + " ", (row, column - len(self._typed)), (row, column))
        self.move_cursor(done.end_location)

    def close_completions(self) -> bool:
        """Esc: close the completion list (False when none was open); the text stays as typed."""
        self._typed = None
        return self.completions.close()

    def mark_editing(self, editing: bool) -> None:
        """Say that the box holds an earlier prompt being edited (Enter sends it as a new version of that turn)."""
        self.set_class(editing, "editing")
        self.border_title = "editing — Enter resends, Esc cancels" if editing else None

    def action_submit(self) -> None:
        """Send the text, or the attachments alone (a long paste is a message by itself)."""
        text = self.text.strip()
        if not text and not self.attachments:
            return
        if text and (not self.prompts or self.prompts[-1] != text):
            self.prompts.append(text)
        self._recall = None
        self.post_message(self.Submitted(self, text))
        self.clear()

    def action_newline(self) -> None:
        self.insert("\n")

    async def _on_key(self, event: events.Key) -> None:
        if self.completions.open and event.key in ("up", "down", "tab", "enter"):
            event.prevent_default()
            event.stop()
            self.pick() if event.key in ("tab", "enter") else self.completions.move(1 if event.key == "down" else -1)
            return
        if event.key in ("enter", "ctrl+j"):
            event.prevent_default()
            event.stop()
            self.action_submit() if event.key == "enter" else self.action_newline()
            return
        if event.character and event.character in "123456789" and not self.text and self.quick_prompts:
            index = int(event.character) - 1
            if index < len(self.quick_prompts):
                event.prevent_default()
                event.stop()
                self.post_message(self.Submitted(self, self.quick_prompts[index]))
                self.quick_prompts = []
                return
        if event.key == "up" and self.cursor_location[0] == 0 and self._step(-1):
            event.prevent_default()
            event.stop()
            return
        if event.key == "down" and self.cursor_location[0] == self.document.line_count - 1 and self._step(1):
            event.prevent_default()
            event.stop()
            return
        await super()._on_key(event)

    def _step(self, direction: int) -> bool:
        """Move through history; returns False when there is nowhere to go (the key then moves the cursor)."""
        if not self.prompts:
            return False
        if self._recall is None:
            if direction > 0:
                return False
            self._draft, self._recall = self.text, len(self.prompts) - 1
        else:
            target = self._recall + direction
            if target < 0:
                return False
            if target >= len(self.prompts):
                self._recall = None
                self.load_text(self._draft)
                self.move_cursor(self.document.end)
                return True
            self._recall = target
        self.load_text(self.prompts[self._recall])
        self.move_cursor(self.document.end)
        return True
