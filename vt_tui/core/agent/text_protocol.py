"""Tool calls as text, for models and servers without native tool calling.

The system prompt describes each tool (name, description, JSON schema) and one fixed format::

    ```tool
    {"name": "calculator", "arguments": {"expression": "2 + 2"}}
    ```

vt-tui finds those blocks in the reply, runs the calls and sends each result back as a user message
("Tool result for calculator: 4"). Parsing is forgiving where models commonly slip: prose around the block, a
missing closing fence at the end of the reply, ``<tool_call>…</tool_call>`` tags (Hermes/Qwen style),
```` ```tool_call ```` / ```` ```tool_code ```` fences, ``args``/``parameters`` for ``arguments``, arguments given as a
JSON string, and Python-style single quotes (read with :func:`ast.literal_eval`, never ``eval``). A plain
```` ```json ```` block counts only when it names a known tool and has arguments: models also show JSON to users.

:class:`BlockScanner` is incremental, so the chat can stream the model's prose while the tool blocks are held back
(they appear in the tool panel instead). Nothing here imports LangChain.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOOL_FENCES = ("tool", "tool_call", "tool_code")
_FENCE_OPEN = re.compile(r"```[ \t]*(tool_call|tool_code|tool)[ \t]*\r?\n")
_FENCE_CLOSE = re.compile(r"(?:^|\n)[ \t]*```[ \t]*(?:\r?\n|$)")
_TAG_OPEN, _TAG_CLOSE = "<tool_call>", "</tool_call>"
_INDENT = re.compile(r"[ \t]*")
_JSON_BLOCK = re.compile(r"(?:^|\n)[ \t]*```[ \t]*json[ \t]*\r?\n(.*?)\n[ \t]*```", re.DOTALL)
_NAME_GUESS = re.compile(r"""["']?(?:name|tool)["']?\s*[:=]\s*["']([\w.-]{1,64})["']""")
MAX_CALL_CHARS = 50_000  # a longer block is refused, not parsed
ARG_KEYS = ("arguments", "args", "parameters", "input")


@dataclass
class Block:
    """One tool block: its text, and whether its closing fence/tag was seen."""

    kind: str  # "fence" or "tag"
    text: str
    closed: bool


@dataclass
class ParsedCall:
    """A call found in the text. ``error`` is set (and ``args`` is None) when it could not be read."""

    name: str
    args: dict[str, Any] | None
    error: str | None = None
    raw: str = ""
    has_args: bool = False  # the object had an "arguments" (or alias) key


@dataclass
class BlockScanner:
    """Split streamed text into visible prose and tool blocks. Blocks start at the beginning of a line.

    ``feed`` returns the text that is safe to show now; ``finish`` returns the rest at the end of the reply (an
    unclosed block at the very end is taken as a block: models often stop right after the JSON).
    """

    blocks: list[Block] = field(default_factory=list)
    _buf: str = ""
    _block: str | None = None  # "fence" / "tag" while inside a block
    _mid_line: bool = False  # part of the current line was already shown: it cannot open a block
    _eat_newline: bool = False  # a </tool_call> just closed: drop the line break that follows it

    def feed(self, chunk: str) -> str:
        self._buf += chunk
        return self._scan(final=False)

    def finish(self) -> str:
        """The text still held back; an unclosed block at the end becomes a block."""
        shown = self._scan(final=True)
        if self._block is not None:
            self.blocks.append(Block(self._block, self._buf, closed=False))
            self._buf, self._block = "", None
        return shown

    def _scan(self, final: bool) -> str:
        # Walks the buffer by position and cuts it once at the end: cutting it line by line made the scan of a
        # whole reply (parse_calls, at the end of every text-protocol step) quadratic in its length.
        out: list[str] = []
        buf, pos = self._buf, 0
        while pos < len(buf):
            if self._eat_newline:
                if buf[pos:] == "\r" and not final:
                    break
                self._eat_newline = False
                if buf.startswith("\r\n", pos):
                    pos += 2
                elif buf.startswith("\n", pos):
                    pos += 1
                continue
            if self._block is not None:
                self._buf = buf[pos:]  # blocks are rare: cutting here costs nothing
                closed = self._close_block(final)
                buf, pos = self._buf, 0
                if not closed:
                    break
                continue
            if self._mid_line:
                newline = buf.find("\n", pos)
                if newline < 0:
                    out.append(buf[pos:])
                    pos = len(buf)
                    break
                out.append(buf[pos : newline + 1])
                pos = newline + 1
                self._mid_line = False
                continue
            start = _INDENT.match(buf, pos).end()  # type: ignore[union-attr]
            if match := _FENCE_OPEN.match(buf, start):
                self._block, pos = "fence", match.end()
                continue
            if buf.startswith(_TAG_OPEN, start):
                self._block, pos = "tag", start + len(_TAG_OPEN)
                continue
            if not final:
                newline = buf.find("\n", start)
                line = buf[start:] if newline < 0 else buf[start : newline + 1]
                if not line or _could_open(line):
                    break  # wait for more text to decide
            self._mid_line = True
        self._buf = buf[pos:]
        return "".join(out)

    def _close_block(self, final: bool) -> bool:
        if self._block == "tag":
            end = self._buf.find(_TAG_CLOSE)
            if end < 0:
                return False
            text, after = self._buf[:end], end + len(_TAG_CLOSE)
        else:
            match = _FENCE_CLOSE.search(self._buf)
            # "```" at the very end may still grow into "```python": wait unless a newline followed it
            at_end = match is not None and match.end() == len(self._buf) and not match.group().endswith("\n")
            if match is None or (at_end and not final):
                return False
            text, after = self._buf[: match.start()], match.end()
        self.blocks.append(Block(self._block or "fence", text, closed=True))
        self._eat_newline = self._block == "tag"  # the line break after </tool_call> goes with it
        self._block = None
        self._buf = self._buf[after:]
        self._mid_line = False
        return True


def _could_open(rest: str) -> bool:
    """True while ``rest`` (a line start) may still turn into a block opener once more text arrives."""
    if "\n" in rest:
        return False
    if _TAG_OPEN.startswith(rest):
        return True
    ticks = len(rest) - len(rest.lstrip("`"))
    if ticks < 3:
        return ticks == len(rest) and ticks > 0
    word = rest[3:].strip(" \t\r")
    return ticks == 3 and " " not in word and any(fence.startswith(word) for fence in TOOL_FENCES)


def scan(text: str) -> tuple[str, list[Block]]:
    """(visible text, tool blocks) of a whole reply."""
    scanner = BlockScanner()
    visible = scanner.feed(text) + scanner.finish()
    return visible, scanner.blocks


def parse_calls(text: str, known: Iterable[str] = ()) -> tuple[str, list[ParsedCall]]:
    """(visible text, calls) of a whole reply. ``known`` tool names let plain ```json blocks count as calls."""
    visible, blocks = scan(text)
    calls = [_parse_block(block.text) for block in blocks if block.text.strip() or block.closed]
    names = set(known)
    if names:
        for match in _JSON_BLOCK.finditer(visible):
            call = _parse_block(match.group(1))
            if call.error is None and call.name in names and call.has_args:
                calls.append(call)
    return visible, calls


def _parse_block(raw: str) -> ParsedCall:
    text = raw.strip()
    call = ParsedCall("", None, raw=text)
    if len(text) > MAX_CALL_CHARS:
        call.error = f"the tool call is too long ({len(text):,} characters)"
        return call
    try:
        obj = loads_lenient(text)
    except ValueError as exc:
        call.name = guess_name(text)
        call.error = f"the tool call is not valid JSON ({exc})"
        return call
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        call.error = 'the tool call must be a JSON object like {"name": ..., "arguments": {...}}'
        return call
    if isinstance(obj.get("function"), dict):  # {"type": "function", "function": {"name", "arguments"}}
        obj = obj["function"]
    name = obj.get("name", obj.get("tool"))
    if not isinstance(name, str) or not name.strip():
        call.error = 'the tool call has no "name"'
        return call
    call.name = name.strip()
    key = next((k for k in ARG_KEYS if k in obj), None)
    call.has_args = key is not None
    args: Any = obj.get(key, {}) if key else {}
    if isinstance(args, str):
        try:
            args = loads_lenient(args) if args.strip() else {}
        except ValueError as exc:
            call.error = f'"arguments" is a string that is not valid JSON ({exc})'
            return call
    if args is None:
        args = {}
    if not isinstance(args, dict):
        call.error = f'"arguments" must be a JSON object, not {type(args).__name__}'
        return call
    call.args = args
    return call


def loads_lenient(text: str) -> Any:
    """JSON, or failing that a Python literal (single quotes, True/None); raises ValueError with JSON's reason."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(reason) from None
    if not isinstance(value, dict | list):
        raise ValueError(reason)
    return value


def guess_name(text: str) -> str:
    match = _NAME_GUESS.search(text)
    return match.group(1) if match else ""


# --- prompt and results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]  # JSON schema of the arguments


def system_prompt(tools: Iterable[ToolSpec], *, base: str | None = None, last_step: bool = False) -> str:
    """The system prompt that teaches the format, after the user's own ``base`` prompt."""
    parts = [base.strip()] if base and base.strip() else []
    if last_step:
        parts.append(
            "You cannot call tools any more in this reply. Answer the user now with what you have; "
            "say so if something is still missing."
        )
        return "\n\n".join(parts)
    specs = list(tools)
    lines = [
        "You can call tools. To call one, write a block in exactly this format and then stop writing:",
        "",
        "```tool",
        '{"name": "TOOL_NAME", "arguments": {"ARGUMENT": "VALUE"}}',
        "```",
        "",
        "The arguments are JSON and must match the tool's schema. The result comes back in the next message, "
        'starting with "Tool result for TOOL_NAME:". Call a tool only when it helps; otherwise answer directly. '
        "Never write a tool result yourself.",
        "",
        "Tools:",
    ]
    for spec in specs:
        description = " ".join(spec.description.split())
        lines.append(f"- {spec.name}: {description}")
        lines.append(f"  arguments schema: {json.dumps(dict(spec.parameters), separators=(',', ':'))}")
    parts.append("\n".join(lines))
    return "\n\n".join(parts)


def result_message(name: str, content: str) -> str:
    """What the model reads back for one call."""
    return f"Tool result for {name}: {content}"
