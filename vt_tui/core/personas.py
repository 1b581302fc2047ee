"""Personas: a system prompt with its own sampling settings, greeting and quick prompts, in one Markdown file.

::

    ---
    name: coder
    description: Terse programmer
    temperature: 0.2
    tools: [calculator, web_fetch]     # or true / false, or a "- item" list
    greeting: "What are we building?"
    examples:
      - Write a Python function that
      - "Explain this error: "
    ---
    You are a senior engineer. Code first, …

The front matter is a small, strict subset of YAML read without a dependency: ``key: value`` lines with quoted
(``"…"`` with backslash escapes, ``'…'``) or plain strings, numbers, ``true``/``false``, ``null``, inline lists
``[a, "b, c"]``, ``- item`` lists under a ``key:`` line, ``|`` blocks of indented lines, and ``#`` comments.
Anything else is an error naming the file and the line; a file with an error is skipped, never raised.

Shipped personas live in ``prompts/`` (the ``vt_tui.prompts`` package); the user's own in
``$XDG_CONFIG_HOME/vt-tui/prompts/*.md`` override shipped ones of the same name.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from vt_tui import paths
from vt_tui.core import params as gen
from vt_tui.core.session import GenerationParams
from vt_tui.settings import Settings

DEFAULT = "assistant"
MAX_FILE_BYTES = 256 * 1024
KEYS = ("name", "description", "temperature", "top_p", "max_tokens", "tools", "greeting", "examples")
_KEY = re.compile(r"^([A-Za-z_][\w-]*)[ ]*:(?:[ \t]+(.*))?$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "r": "\r", "0": "\0"}
_NAME = re.compile(r"^[\w][\w .+-]{0,63}$")


class FrontMatterError(ValueError):
    """A line of front matter that cannot be read; ``line`` is 1-based within the file."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Persona:
    """One persona. ``None`` for a sampling setting means "keep the conversation's".

    ``tools``: None leaves the ``tools`` setting alone; False turns tools off; True allows every tool; a tuple
    allows only the named tools.
    """

    name: str
    description: str = ""
    system: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    tools: bool | tuple[str, ...] | None = None
    greeting: str | None = None
    examples: tuple[str, ...] = ()
    source: Path | None = None

    def params(self, base: GenerationParams) -> GenerationParams:
        """``base`` with this persona's sampling settings applied (a new object; ``base`` is unchanged)."""
        overrides = {
            k: v
            for k, v in (("temperature", self.temperature), ("top_p", self.top_p), ("max_tokens", self.max_tokens))
            if v is not None
        }
        return replace(base, stop=list(base.stop) if base.stop else base.stop, **overrides)

    def allows_tool(self, name: str) -> bool:
        """Whether the persona lets the agent use tool ``name`` (the ``tools`` setting still decides the mode)."""
        if self.tools is None or self.tools is True:
            return True
        if self.tools is False:
            return False
        return name in self.tools


@dataclass
class PersonaSet:
    """Every persona that loaded, by name (shipped first, then the user's), and an error line per skipped file."""

    personas: dict[str, Persona] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def get(self, name: str) -> Persona | None:
        """By name, ignoring case; None when there is none."""
        if name in self.personas:
            return self.personas[name]
        folded = name.casefold()
        return next((p for n, p in self.personas.items() if n.casefold() == folded), None)

    def names(self) -> list[str]:
        return list(self.personas)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        return len(self.personas)


# ---------------------------------------------------------------------------------------------- front matter


def _unquote_double(text: str, line: int) -> tuple[str, str]:
    """Read a ``"…"`` string at the start of ``text``; return it and the rest of the text."""
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            esc = text[i + 1]
            if esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if esc not in _ESCAPES:
                raise FrontMatterError(line, f"unknown escape \\{esc} in a quoted string")
            out.append(_ESCAPES[esc])
            i += 2
            continue
        if ch == '"':
            return "".join(out), text[i + 1 :]
        out.append(ch)
        i += 1
    raise FrontMatterError(line, 'a "quoted string" is not closed on its line')


def _unquote_single(text: str, line: int) -> tuple[str, str]:
    out: list[str] = []
    i = 1
    while i < len(text):
        if text[i] == "'":
            if text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), text[i + 1 :]
        out.append(text[i])
        i += 1
    raise FrontMatterError(line, "a 'quoted string' is not closed on its line")


def _strip_comment(text: str) -> str:
    """Drop a `` # comment`` from a plain (unquoted) value."""
    match = re.search(r"(^|\s)#", text)
    return text[: match.start()].rstrip() if match else text.rstrip()


def _after_string(rest: str, line: int) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise FrontMatterError(line, f"unexpected text after a quoted string: {rest[:40]!r}")


def _scalar(text: str, line: int) -> Any:
    """One value: a quoted or plain string, a number, a boolean, null, or an inline ``[…]`` list."""
    text = text.strip()
    if text.startswith('"'):
        value, rest = _unquote_double(text, line)
        _after_string(rest, line)
        return value
    if text.startswith("'"):
        value, rest = _unquote_single(text, line)
        _after_string(rest, line)
        return value
    if text.startswith("["):
        return _inline_list(text, line)
    text = _strip_comment(text)
    if text.startswith(("{", "&", "*", "!", "%", "@", "`", ">")):
        raise FrontMatterError(line, f"unsupported value {text[:40]!r} (quote it to use it as text)")
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("null", "~", ""):
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _inline_list(text: str, line: int) -> list[Any]:
    """``[a, "b, c", 3]`` (one line, no nesting)."""
    items: list[Any] = []
    rest = text[1:].lstrip()
    if rest.startswith("]"):
        _after_string(rest[1:], line)
        return items
    while True:
        rest = rest.lstrip()
        if rest.startswith('"'):
            item, rest = _unquote_double(rest, line)
        elif rest.startswith("'"):
            item, rest = _unquote_single(rest, line)
        else:
            match = re.match(r"[^,\]\[]*", rest)
            raw = match.group(0) if match else ""
            if not raw.strip():
                raise FrontMatterError(line, "empty item in a [list]")
            item, rest = _scalar(raw, line), rest[len(raw) :]
        items.append(item)
        rest = rest.lstrip()
        if rest.startswith(","):
            rest = rest[1:]
            continue
        if rest.startswith("]"):
            _after_string(rest[1:], line)
            return items
        raise FrontMatterError(line, "a [list] is not closed on its line (expected , or ])")


def parse_front_matter(lines: list[str], first_line: int = 2) -> dict[str, tuple[Any, int]]:
    """``key -> (value, line number)`` from the lines between the ``---`` markers."""
    out: dict[str, tuple[Any, int]] = {}
    i = 0
    while i < len(lines):
        number = first_line + i
        raw = lines[i].rstrip("\r\n")
        stripped = raw.strip()
        i += 1
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise FrontMatterError(number, "tabs are not allowed for indentation")
        if raw[0].isspace() or stripped.startswith("- "):
            raise FrontMatterError(number, f"unexpected indented line or list item: {stripped[:40]!r}")
        match = _KEY.match(raw)
        if not match:
            raise FrontMatterError(number, f"expected 'key: value', got {stripped[:40]!r}")
        key, text = match.group(1), (match.group(2) or "").strip()
        if key in out:
            raise FrontMatterError(number, f"{key!r} is given twice (first on line {out[key][1]})")
        if text in ("|", "|-", ">", ">-"):
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
                block.append(lines[i].rstrip("\r\n"))
                i += 1
            while block and not block[-1].strip():
                block.pop()
            if not block:
                raise FrontMatterError(number, f"{key!r}: a {text} block needs indented lines below it")
            indent = min(len(b) - len(b.lstrip(" ")) for b in block if b.strip())
            body = [b[indent:] for b in block]
            value: Any = " ".join(b.strip() for b in body) if text.startswith(">") else "\n".join(body)
            out[key] = (value, number)
            continue
        if text == "" or text.startswith("#"):
            items: list[Any] = []
            while i < len(lines):
                item_raw = lines[i].rstrip("\r\n")
                item = item_raw.strip()
                if not item or item.startswith("#"):
                    i += 1
                    continue
                if not item_raw[:1].isspace() and not item.startswith("-"):
                    break
                if not (item == "-" or item.startswith("- ")):
                    raise FrontMatterError(first_line + i, f"expected '- item' under {key!r}, got {item[:40]!r}")
                items.append(_scalar(item[1:], first_line + i))
                i += 1
            out[key] = (items if items else None, number)
            continue
        out[key] = (_scalar(text, number), number)
    return out


def split(text: str) -> tuple[list[str] | None, int, str]:
    """(front matter lines or None, line number of the body's first line, body)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, 1, text
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return lines[1:index], index + 2, "".join(lines[index + 1 :])
    raise FrontMatterError(1, "the front matter opened on line 1 is never closed with a '---' line")


# ---------------------------------------------------------------------------------------------- personas


def _text(key: str, value: Any, line: int) -> str:
    if isinstance(value, bool) or value is None:
        raise FrontMatterError(line, f"{key} must be text (got {value!r}; quote it)")
    if isinstance(value, list):
        raise FrontMatterError(line, f"{key} must be text, not a list")
    return str(value)


def parse_persona(text: str, stem: str, source: Path | None = None) -> Persona:
    """One persona from a file's text; ``stem`` (the file name without ``.md``) is its name unless it says one.

    Raises :class:`FrontMatterError` with the line to blame.
    """
    front, _body_line, body = split(text)
    values = parse_front_matter(front) if front is not None else {}
    kwargs: dict[str, Any] = {}
    for key, (value, line) in values.items():
        if key not in KEYS:
            raise FrontMatterError(line, f"unknown key {key!r} (known: {', '.join(KEYS)})")
        if value is None:
            continue
        if key in ("name", "description", "greeting"):
            value = _text(key, value, line).strip()
            if key == "name" and not _NAME.match(value):
                raise FrontMatterError(line, f"name {value!r}: use letters, digits, spaces, '.', '-', '+' (64 at most)")
        elif key in ("temperature", "top_p", "max_tokens"):
            try:
                value = gen.validate(key, value)
            except ValueError as exc:
                raise FrontMatterError(line, str(exc)) from None
        elif key == "tools":
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list):
                if not all(isinstance(v, str) and v.strip() for v in value):
                    raise FrontMatterError(line, "tools must be true, false or a list of tool names")
                value = tuple(v.strip() for v in value)
            elif not isinstance(value, bool):
                raise FrontMatterError(line, f"tools must be true, false or a list of tool names (got {value!r})")
        elif key == "examples":
            if not isinstance(value, list):
                value = [value]
            if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
                raise FrontMatterError(line, "examples must be a list of prompts (text)")
            value = tuple(str(v) for v in value if str(v).strip())
        kwargs[key] = value
    name = kwargs.pop("name", stem)
    if not _NAME.match(name):
        raise FrontMatterError(1, f"no usable name: add 'name: …' (the file name {stem!r} cannot be one)")
    return Persona(name=name, system=body.strip(), source=source, **kwargs)


def _files(directory: Traversable | Path) -> list[Traversable | Path]:
    try:
        if not directory.is_dir():
            return []
        entries = [e for e in directory.iterdir() if e.name.endswith(".md") and not e.name.startswith(".")]
    except OSError:
        return []
    return sorted(entries, key=lambda e: e.name)


def _load_file(entry: Traversable | Path, label: str) -> Persona | str:
    """A persona, or an error line that names the file (and the line, where one is to blame)."""
    try:
        data = entry.read_bytes()
    except OSError as exc:
        return f"{label}: cannot be read ({exc.strerror or exc})"
    if len(data) > MAX_FILE_BYTES:
        return f"{label}: too large for a persona ({len(data):,} bytes; at most {MAX_FILE_BYTES:,})"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return f"{label}, line {line}: not UTF-8 text"
    stem = entry.name[: -len(".md")]
    source = entry if isinstance(entry, Path) else Path(str(entry))
    try:
        return parse_persona(text, stem, source)
    except FrontMatterError as exc:
        return f"{label}, line {exc.line}: {exc.message}"


def _load_dir(directory: Traversable | Path, where: str, into: PersonaSet) -> None:
    seen: dict[str, str] = {}
    for entry in _files(directory):
        label = f"{where}{entry.name}"
        result = _load_file(entry, label)
        if isinstance(result, str):
            into.errors.append(result)
            continue
        key = result.name.casefold()
        if key in seen:
            into.errors.append(f"{label}: persona {result.name!r} is already defined in {seen[key]}; skipped")
            continue
        seen[key] = entry.name
        # an override takes the place of the persona it replaces, and leaves no entry under another spelling
        into.personas = {
            (result.name if n.casefold() == key else n): (result if n.casefold() == key else p)
            for n, p in into.personas.items()
        }
        into.personas.setdefault(result.name, result)


def shipped_dir() -> Traversable:
    return importlib.resources.files("vt_tui.prompts")


def user_dir() -> Path:
    return paths.config_dir() / "prompts"


def load_personas(
    user: Path | None = None, shipped: Traversable | Path | None = None, extra: Iterable[Path] = ()
) -> PersonaSet:
    """Shipped personas, then the user's (``$XDG_CONFIG_HOME/vt-tui/prompts``), which replace shipped ones by name.

    Never raises: a file that cannot be read or parsed becomes one line in ``.errors`` ("coder.md, line 3: …").
    ``extra`` directories load last (tests, or a ``--prompts`` option).
    """
    result = PersonaSet()
    _load_dir(shipped if shipped is not None else shipped_dir(), "", result)
    user = user if user is not None else user_dir()
    _load_dir(user, f"{_home_short(user)}/", result)
    for directory in extra:
        _load_dir(directory, f"{_home_short(directory)}/", result)
    return result


def _home_short(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except (ValueError, RuntimeError):
        return str(path)


def session_setup(persona: Persona | None, settings: Settings) -> tuple[str | None, GenerationParams]:
    """System prompt and parameters for a session: the user's flags win over the persona, the persona over
    the defaults (``max_tokens`` from the persona replaces the default one)."""
    base = GenerationParams(max_tokens=settings.max_tokens)
    params = persona.params(base) if persona else base
    if settings.temperature is not None:
        params.temperature = settings.temperature
    if settings.top_p is not None:
        params.top_p = settings.top_p
    return settings.system or (persona.system if persona else None), params


def chosen(personas: PersonaSet, settings: Settings) -> Persona | None:
    """The persona a session starts with: ``--persona``, else the default one — except on the shipped 135M
    model, whose answers a long system prompt makes worse (it gets its chat template's own short one)."""
    if settings.persona:
        return personas.get(settings.persona)
    return None if settings.embedded and settings.gguf is None else personas.get(DEFAULT)
