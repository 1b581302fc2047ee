"""The tool panel: agent tool calls live (name, short arguments, status, duration) and their details.

``ToolPanel`` lists calls as the core reports them (``add_call`` / ``finish_call``) or as the store kept them
(``load``), each tool under the title its owner gives it (an MCP server's shows as "server · tool"). Up/Down (or
the mouse) move through the list; Enter or a click opens the selected call's details — full arguments and result,
pretty-printed — below it; Enter again closes them; ``c`` copies them. Everything a model or a tool wrote is shown
as inert text: never parsed as markup, terminal escapes stripped.

"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vt_tui.core.events import ToolCallFinished, ToolCallStarted
from vt_tui.core.sanitize import inert

# status -> (icon, style); the same colours in the list, the details and the title's counts
STATUS: dict[str, tuple[str, str]] = {
    "running": ("●", "bold yellow"),
    "ok": ("✓", "green"),
    "error": ("✗", "bold red"),
    "denied": ("⊘", "magenta"),
    "cancelled": ("◌", "dim"),
}
DETAIL_CHARS = 20_000  # longer results are cut in the details view (copy gives the whole text)
_json_highlight = JSONHighlighter()


@dataclass
class ToolCallRecord:
    """One row of the panel."""

    key: str  # unique within the panel (call ids repeat across turns and conversations)
    call_id: str
    name: str
    args: dict[str, Any]
    title: str = ""  # the tool as the user knows it ("server · tool"); the name when empty
    status: str = "running"
    result: str | None = None
    error: str | None = None
    duration_s: float | None = None
    step: int | None = None
    risky: bool = False
    started: float = 0.0  # monotonic, for the live clock of running calls

    @property
    def elapsed(self) -> float | None:
        if self.duration_s is not None:
            return self.duration_s
        return time.monotonic() - self.started if self.started else None


def short_args(args: Mapping[str, Any]) -> str:
    """One line: a lone argument as its value ("17 * 23"), several as key=value pairs."""
    if not args:
        return ""
    if len(args) == 1:
        value = next(iter(args.values()))
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    else:
        parts = []
        for key, value in args.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            parts.append(f"{key}={shown}")
        text = ", ".join(parts)
    return " ".join(inert(text).split())


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def row_text(record: ToolCallRecord, width: int) -> Text:
    """The list row for ``record`` in at most ``width`` cells: icon, name, arguments, duration (right-aligned).

    When space is short the arguments go first, then the name is shortened, then the duration goes.
    """
    icon, style = STATUS.get(record.status, ("?", ""))
    duration = "" if record.status == "denied" else format_duration(record.elapsed)
    width = max(width, 8)
    avail = width - 2  # after the icon and a space
    if duration and avail - len(duration) - 1 < 5:
        duration = ""
    tail = len(duration) + 1 if duration else 0
    full_name = inert(record.title or record.name) or "?"
    arguments = short_args(record.args)
    name_room = avail - tail
    if arguments:
        name_room = max(min(len(full_name), name_room * 2 // 3), min(len(full_name), 4))
    name = _fit(full_name, min(name_room, avail - tail))
    room = avail - tail - len(name) - 1
    arguments = _fit(arguments, room) if room >= 3 else ""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(icon, style)
    text.append(" ")
    text.append(name, "bold")
    if arguments:
        text.append(" ")
        text.append(arguments, "dim")
    if duration:
        text.append(" " * max(1, width - text.cell_len - len(duration)))
        text.append(duration, "dim" if record.status == "running" else "")
    return text


def json_text(value: Any) -> Text:
    """``value`` as indented JSON, coloured; control characters escaped by JSON, markup never parsed."""
    return _json_highlight(Text(inert(json.dumps(value, indent=2, ensure_ascii=False))))


def pretty(text: str | None) -> Text:
    """A tool's output: pretty JSON with colours when it is JSON, else the text itself (inert)."""
    if text is None:
        return Text("")
    stripped = text.strip()
    if stripped[:1] in "{[" and len(stripped) < DETAIL_CHARS:
        try:
            value = json.loads(stripped)
        except ValueError:
            pass
        else:
            return json_text(value)
    cut = text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + f"\n[… {len(text) - DETAIL_CHARS:,} more]"
    return Text(inert(cut))


def detail_text(record: ToolCallRecord) -> Text:
    icon, style = STATUS.get(record.status, ("?", ""))
    out = Text()
    out.append(inert(record.title or record.name), "bold")
    out.append("  ")
    out.append(f"{icon} {record.status}", style)
    facts = [format_duration(record.elapsed)]
    if record.step:
        facts.append(f"step {record.step}")
    if record.risky:
        facts.append("needs approval")
    out.append("  " + " · ".join(f for f in facts if f), "dim")
    named = f"{record.name} · " if record.title and record.title != record.name else ""  # the model's name too
    out.append(f"\n{inert(named + record.call_id)}\n", "dim")
    out.append("\nArguments\n", "bold underline")
    out.append_text(json_text(record.args))
    if record.error is not None:
        out.append("\n\nError\n", "bold underline red")
        out.append(inert(record.error), "red")
    if record.result is not None:
        out.append("\n\nResult\n", "bold underline")
        out.append_text(pretty(record.result))
    if record.status == "running":
        out.append("\n\nrunning…", "dim italic")
    return out


def copy_text(record: ToolCallRecord) -> str:
    parts = [f"{record.name} ({record.status})", json.dumps(record.args, indent=2, ensure_ascii=False)]
    if record.error is not None:
        parts.append(f"Error: {record.error}")
    if record.result is not None:
        parts.append(record.result)
    return "\n\n".join(parts)


class ToolPanel(Vertical):
    """Agent tool calls, live. Feed it core events; it never talks to the core itself."""

    BINDINGS: ClassVar = [Binding("c", "copy_call", "Copy call", show=True, id="copy-tool-call")]
    DEFAULT_CLASSES = "tool-panel"
    DEFAULT_CSS = """
    ToolPanel {
        height: 1fr;
        min-height: 5;
        padding: 0 0 0 1;
    }

    #tool-panel-title {
        height: 1;
        color: $text;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }

    #tool-panel-empty {
        height: 1;
        color: $text-muted;
    }

    #tool-calls {
        height: auto;
        max-height: 50%;
        min-height: 1;
        border: none;
        padding: 0;
        background: transparent;
        scrollbar-size-vertical: 1;
    }

    #tool-calls:focus {
        background-tint: $foreground 3%;
    }

    #tool-calls > .option-list--option-highlighted {
        text-style: none;
    }

    #tool-detail {
        height: 1fr;
        min-height: 4;
        border-top: hkey $primary 30%;
        scrollbar-size-vertical: 1;
    }

    #tool-detail-body {
        height: auto;
        padding: 0 1 0 0;
    }
    """
    count = reactive(0)

    def __init__(
        self,
        *,
        titles: Callable[[str], str] = str,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``titles(tool name)``: how the user knows the tool (by default its name)."""
        super().__init__(name=name, id=id, classes=classes)
        self.titles = titles
        self.records: dict[str, ToolCallRecord] = {}
        self._latest: dict[str, str] = {}  # call id -> key of its newest record
        self._seq = 0
        self._open: str | None = None  # key whose details are shown
        self._clock: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("Tools"), id="tool-panel-title")
        yield Static(Text("No tool calls yet.", style="dim"), id="tool-panel-empty")
        yield OptionList(id="tool-calls")
        with VerticalScroll(id="tool-detail"):
            yield Static(id="tool-detail-body")

    def on_mount(self) -> None:
        self.query_one("#tool-detail").display = False
        self.query_one(OptionList).display = False

    # feeding ----------------------------------------------------------------------------------
    def add_call(self, event: ToolCallStarted) -> ToolCallRecord:
        record = ToolCallRecord(
            self._next_key(),
            event.call_id,
            event.name,
            dict(event.args),
            self.titles(event.name),
            step=event.step or None,
            risky=event.risky,
            started=time.monotonic(),
        )
        self._add(record)
        self._ensure_clock()
        return record

    def finish_call(self, event: ToolCallFinished) -> ToolCallRecord | None:
        key = self._latest.get(event.call_id)
        record = self.records.get(key) if key else None
        if record is None:  # finished without a start we saw (panel cleared meanwhile): show it anyway
            record = ToolCallRecord(self._next_key(), event.call_id, event.name, {}, self.titles(event.name))
            self._add(record)
        record.status, record.result, record.error = event.status, event.result, event.error
        record.duration_s = event.duration_s
        self._refresh(record)
        return record

    def load(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Show stored calls (``Store.tool_calls``); one left "running" by a crash shows as cancelled."""
        self.clear()
        options = []
        for row in rows:
            status = row.get("status") or "cancelled"
            record = ToolCallRecord(
                self._next_key(),
                str(row.get("call_id", "")),
                str(row.get("name", "")),
                dict(row.get("args") or {}),
                self.titles(str(row.get("name", ""))),
                status="cancelled" if status == "running" else status,
                result=row.get("result"),
                error=row.get("error") or ("interrupted" if status == "running" else None),
                duration_s=row.get("duration_s"),
            )
            self.records[record.key] = record
            self._latest[record.call_id] = record.key
            options.append(Option(row_text(record, self._row_width()), id=record.key))
        self.query_one(OptionList).add_options(options)
        self._after_change()

    def clear(self) -> None:
        self.records.clear()
        self._latest.clear()
        self._open = None
        self.query_one(OptionList).clear_options()
        self.query_one("#tool-detail").display = False
        self._after_change()

    @property
    def calls(self) -> list[ToolCallRecord]:
        return list(self.records.values())

    @property
    def selected(self) -> ToolCallRecord | None:
        option = self.query_one(OptionList).highlighted_option
        return self.records.get(option.id) if option and option.id else None

    # internals --------------------------------------------------------------------------------
    def _next_key(self) -> str:
        self._seq += 1
        return f"call-{self._seq}"

    def _add(self, record: ToolCallRecord) -> None:
        self.records[record.key] = record
        self._latest[record.call_id] = record.key
        options = self.query_one(OptionList)
        follow = options.highlighted is None or options.highlighted == options.option_count - 1
        options.add_option(Option(row_text(record, self._row_width()), id=record.key))
        if follow:  # keep the newest call in view unless the user is looking at an older one
            options.highlighted = options.option_count - 1
        self._after_change()

    def _refresh(self, record: ToolCallRecord) -> None:
        with suppress(LookupError):
            self.query_one(OptionList).replace_option_prompt(record.key, row_text(record, self._row_width()))
        if self._open == record.key:
            self._show_detail(record)
        self._after_change()

    def _after_change(self) -> None:
        has_calls = bool(self.records)
        self.query_one("#tool-panel-empty").display = not has_calls
        self.query_one(OptionList).display = has_calls
        self.count = len(self.records)
        self.query_one("#tool-panel-title", Static).update(self._title())

    def _title(self) -> Text:
        title = Text("Tools", style="bold")
        counts: dict[str, int] = {}
        for record in self.records.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        if self.records:
            title.append(f" · {len(self.records)}", "dim")
        for status in ("running", "error", "denied"):
            if counts.get(status):
                icon, style = STATUS[status]
                title.append(f"  {icon} {counts[status]}", style)
        return title

    def _row_width(self) -> int:
        """Cells for a row: the panel's content width less the list's scrollbar (kept free so rows never wrap)."""
        return max(self.content_region.width - 1, 8)

    def _ensure_clock(self) -> None:
        if self._clock is None:
            self._clock = self.set_interval(0.5, self._tick)

    def _tick(self) -> None:
        running = [r for r in self.records.values() if r.status == "running"]
        for record in running:
            self._refresh(record)
        if not running and self._clock is not None:
            self._clock.stop()
            self._clock = None

    def on_resize(self, event: events.Resize) -> None:
        options = self.query_one(OptionList)
        width = self._row_width()
        for record in self.records.values():
            with suppress(LookupError):
                options.replace_option_prompt(record.key, row_text(record, width))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if self._open is not None and event.option.id in self.records:  # details follow the cursor
            self._open = event.option.id
            self._show_detail(self.records[event.option.id])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        key = event.option.id
        if key is None or key not in self.records:
            return
        if self._open == key:
            self._open = None
            self.query_one("#tool-detail").display = False
        else:
            self._open = key
            self._show_detail(self.records[key])

    def _show_detail(self, record: ToolCallRecord) -> None:
        self.query_one("#tool-detail-body", Static).update(detail_text(record))
        self.query_one("#tool-detail").display = True

    def action_copy_call(self) -> None:
        record = self.selected
        if record is None:
            return
        text = copy_text(record)
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied the {record.name} call ({len(text):,} chars)")
