"""Ctrl+O: search every message of every conversation (or pick one of the latest), open it at the message found;
rename and delete conversations.

Typing searches in a worker, after a pause (:data:`DEBOUNCE_S`), through a connection of its own: a broad prefix
over a large store takes tens of milliseconds and the keys never wait for it. Message text reaches the screen as
Rich ``Text`` only (no markup is parsed, control characters were removed by the store).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from vt_tui.core.search import HitSide, SearchHit, words
from vt_tui.core.store import ConversationInfo, Store, failure_words
from vt_tui.ui.failures import ForwardsWorkerFailures
from vt_tui.ui.screens.dialog import Dialog

DEBOUNCE_S = 0.15  # typing faster than this searches once, for the last key
LEAD_CHARS = 24  # a snippet whose match would be cut off by the width starts this far before it
MATCH_STYLE = "bold reverse"
SIDE_WORDS = {HitSide.TITLE: "title", HitSide.USER: "you", HitSide.ASSISTANT: "reply"}
LIST_KEYS = {"up": "cursor_up", "down": "cursor_down", "pageup": "page_up", "pagedown": "page_down"}


@dataclass(frozen=True)
class OpenAt:
    """What the dialog answers: the conversation to open and, for a message found, which one."""

    conversation_id: int
    turn_id: int | None = None
    side: HitSide | None = None


@dataclass(frozen=True)
class Row:
    """One line (or two) of the list: where Enter goes, the conversation's title, what is shown."""

    target: OpenAt
    title: str
    prompt: Text


def when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def hit_row(hit: SearchHit, room: int) -> Row:
    """Title, date and what matched on the first line; the snippet, its matches highlighted, on the second (cut
    before its first match if that would not show in ``room`` cells)."""
    prompt = Text()
    if hit.side is HitSide.TITLE:
        prompt.append_text(marked(hit.snippet, hit.marks, "bold"))
    else:
        prompt.append(hit.title or "(untitled)", "bold")
    prompt.append(f"  {when(hit.updated)} · {SIDE_WORDS[hit.side]}", "dim")
    if hit.side is not HitSide.TITLE:
        prompt.append("\n  ")
        prompt.append_text(marked(*lead_in(hit.snippet, hit.marks, room)))
    return Row(OpenAt(hit.conversation_id, hit.turn_id, hit.side), hit.title, prompt)


def recent_row(info: ConversationInfo) -> Row:
    prompt = Text()
    prompt.append(info.title or "(untitled)", "bold")
    turns = f"{info.turn_count} turn{'s' if info.turn_count != 1 else ''}"
    prompt.append(f"  {when(info.updated)} · {info.model or 'no model'} · {turns}", "dim")
    return Row(OpenAt(info.id), info.title, prompt)


def marked(snippet: str, marks: tuple[tuple[int, int], ...], style: str = "") -> Text:
    text = Text(snippet, style=style)
    for start, end in marks:
        text.stylize(MATCH_STYLE, start, end)
    return text


def lead_in(snippet: str, marks: tuple[tuple[int, int], ...], room: int) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``snippet`` as it is if its first match ends within ``room`` characters, else starting about ``LEAD_CHARS``
    before that match (at a word), its marks moved."""
    if not marks or marks[0][1] <= room or marks[0][0] <= LEAD_CHARS:
        return snippet, marks
    cut = snippet.find(" ", marks[0][0] - LEAD_CHARS, marks[0][0])
    cut = marks[0][0] - LEAD_CHARS if cut < 0 else cut + 1
    shift = cut - 1  # a "…" takes the cut's place
    return "…" + snippet[cut:], tuple((start - shift, end - shift) for start, end in marks)


class SearchScreen(ForwardsWorkerFailures, Dialog[OpenAt]):
    """Type to search every message (empty: the latest conversations), Up/Down to move, Enter to open, F2 to
    rename the selected conversation, F8 to delete it (after asking), Esc to close (or to stop renaming).

    ``delete`` deletes a conversation for the chat (which starts a fresh one when it was open) and says why not,
    if it cannot (a reply is streaming into it)."""

    BINDINGS = [
        Binding("f2", "rename", "Rename", id="rename-conversation"),
        Binding("f8", "delete", "Delete", id="delete-conversation"),
    ]

    DEFAULT_CSS = """
    SearchScreen > .dialog {
        height: 85%;
    }
    #search-results {
        height: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    #rename-input {
        display: none;
    }
    #search-status {
        height: 1;
        color: $text-muted;
    }
    """

    def __init__(self, store: Store, delete: Callable[[int], str | None]) -> None:
        super().__init__()
        self.store = store
        self.delete = delete
        self.rows: list[Row] = []
        self.shown_for: str | None = None  # the query the rows are for ("" for the latest conversations)
        self.renaming: Row | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Conversations", classes="dialog-title")
            yield Input(placeholder="search every message (empty: the latest conversations)", id="search-input")
            yield Input(id="rename-input")
            yield OptionList(id="search-results")
            yield Static(id="search-status")

    def on_mount(self) -> None:
        self.show_rows("", self.recent())

    # what is listed ------------------------------------------------------------------------------------
    def recent(self) -> list[Row]:
        return [recent_row(info) for info in self.store.list_conversations()]

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "search-input":
            return
        if words(event.value):
            self.find(event.value)
        else:  # nothing to search for: the latest conversations, at once
            self.workers.cancel_group(self, "search")
            self.show_rows(event.value, self.recent())

    @work(group="search", exclusive=True, exit_on_error=False, description="searching the conversations")
    async def find(self, query: str) -> None:
        """Search for ``query`` once typing pauses (a newer key cancels this worker while it waits)."""
        await asyncio.sleep(DEBOUNCE_S)
        try:
            hits = await asyncio.to_thread(self.store.search, query)
        except sqlite3.Error as exc:
            self.show_status(Text(f"search failed: {failure_words(exc, self.store.path)}", "red"))
            return
        self.show_rows(query, [hit_row(hit, self.snippet_room) for hit in hits])

    def refresh_rows(self) -> None:
        """List again, now, for what is typed (after a rename or a delete, or on Enter before the search ran)."""
        query = self.query_one("#search-input", Input).value
        rows = [hit_row(hit, self.snippet_room) for hit in self.store.search(query)] if words(query) else self.recent()
        self.show_rows(query, rows)

    def show_rows(self, query: str, rows: list[Row]) -> None:
        options = self.query_one(OptionList)
        keep = options.highlighted if query == self.shown_for else 0
        self.rows, self.shown_for = rows, query
        options.clear_options()
        options.add_options([Option(row.prompt) for row in rows])
        if rows:
            options.highlighted = min(keep or 0, len(rows) - 1)
        self.show_status()

    def show_status(self, note: Text | None = None) -> None:
        if note is None:
            count = len(self.rows)
            if self.shown_for:
                note = Text(f"{count} found" if count else "nothing found")
            else:
                note = Text(f"{count} latest" if count else "no conversations yet")
            note.append("   ")
            note.append_text(
                self.key_hints(
                    (("rename-conversation", "rename"), ("delete-conversation", "delete"), ("close-dialog", "close"))
                )
            )
        self.query_one("#search-status", Static).update(note)

    @property
    def snippet_room(self) -> int:
        """Cells for a snippet: the list's width but the indent (0 before the first layout)."""
        return self.query_one(OptionList).scrollable_content_region.width - 2

    @property
    def selected(self) -> Row | None:
        highlighted = self.query_one(OptionList).highlighted
        return self.rows[highlighted] if highlighted is not None and highlighted < len(self.rows) else None

    # keys ----------------------------------------------------------------------------------------------
    def on_key(self, event: events.Key) -> None:
        if self.renaming is None and event.key in LIST_KEYS:  # the list moves while the typing goes on
            getattr(self.query_one(OptionList), f"action_{LIST_KEYS[event.key]}")()
            event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "rename-input":
            self.finish_rename(event.value)
            return
        if event.value != self.shown_for:  # Enter came before the search: search now
            self.refresh_rows()
        if (row := self.selected) is not None:
            self.dismiss(row.target)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.rows[event.option_index].target)

    def action_close(self) -> None:
        if self.renaming is not None:
            self.end_rename()
        else:
            self.dismiss(None)

    # rename --------------------------------------------------------------------------------------------
    def action_rename(self) -> None:
        row = self.selected
        if row is None or self.renaming is not None:
            self.app.bell()
            return
        self.renaming = row
        search, rename = self.query_one("#search-input", Input), self.query_one("#rename-input", Input)
        rename.value = row.title
        rename.border_title = "New title — Enter renames, Esc keeps it"
        search.display, rename.display = False, True
        rename.focus()

    def finish_rename(self, title: str) -> None:
        assert self.renaming is not None
        conversation_id = self.renaming.target.conversation_id
        try:
            self.store.rename(conversation_id, title)
        except sqlite3.Error as exc:
            why = failure_words(exc, self.store.path)
            self.notify(why, title="not renamed", severity="error", timeout=10, markup=False)
            return  # the new title stays in the box: fix the cause and press Enter again
        self.end_rename()
        self.refresh_rows()

    def end_rename(self) -> None:
        self.renaming = None
        search, rename = self.query_one("#search-input", Input), self.query_one("#rename-input", Input)
        search.display, rename.display = True, False
        search.focus()

    # delete --------------------------------------------------------------------------------------------
    def action_delete(self) -> None:
        from vt_tui.ui.screens.confirm import ConfirmScreen

        row = self.selected
        if row is None or self.renaming is not None:
            self.app.bell()
            return
        question = Text("Delete ")
        question.append(f"“{row.title or '(untitled)'}”", "bold")
        question.append("?")
        detail = "Its messages, tool calls and images go with it; this cannot be undone."

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_conversation(row)

        self.app.push_screen(ConfirmScreen(question, detail, "Delete"), answered)

    def delete_conversation(self, row: Row) -> None:
        try:
            why_not = self.delete(row.target.conversation_id)
        except sqlite3.Error as exc:
            why_not = failure_words(exc, self.store.path)
        if why_not:
            self.notify(why_not, title="not deleted", severity="error", timeout=10, markup=False)
            return
        self.notify(f"Deleted “{row.title or '(untitled)'}”", markup=False)
        self.refresh_rows()
