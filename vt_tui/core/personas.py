"""Personas: a system prompt with its own sampling settings, greeting and quick prompts, in one Markdown file.

::

    ---
    name: coder
    description: Terse programmer
    temperature: 0.2
    thinking: low                      # off, low, medium, high or auto
    tools: [calculator, web_fetch]     # or true / false
    greeting: "What are we building?"
    examples:
      - Write a Python function that
      - "Explain this error: "
    ---
    You are a senior engineer. Code first, …

The front matter is YAML, read by PyYAML's safe loader: the keys above and nothing else. Anything it cannot
read, and any value out of range, is an error naming the file and the line; a file with an error is skipped,
never raised. Sampling values follow the same rule as flags and the parameters dialog
(:func:`vt_tui.core.params.validate`); ``tools`` limits the tools a conversation with this persona is offered
(applied by :mod:`vt_tui.core.conversation`).

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
from typing import TYPE_CHECKING, Any

from vt_tui import paths
from vt_tui.core.params import GenerationParams, validate
from vt_tui.core.profiles import Thinking

if TYPE_CHECKING:
    import yaml

DEFAULT = "assistant"
MAX_FILE_BYTES = 256 * 1024
KEYS = ("name", "description", "temperature", "top_p", "max_tokens", "thinking", "tools", "greeting", "examples")
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
    thinking: Thinking | None = None
    tools: bool | tuple[str, ...] | None = None
    greeting: str | None = None
    examples: tuple[str, ...] = ()
    source: Path | None = None

    def params(self, base: GenerationParams) -> GenerationParams:
        """``base`` with this persona's sampling settings applied (a new object; ``base`` is unchanged)."""
        overrides = {
            k: v
            for k, v in (
                ("temperature", self.temperature),
                ("top_p", self.top_p),
                ("max_tokens", self.max_tokens),
                ("thinking", self.thinking),
            )
            if v is not None
        }
        return replace(base, stop=list(base.stop) if base.stop else base.stop, **overrides)


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


def parse_front_matter(lines: list[str], first_line: int = 2) -> dict[str, tuple[Any, int]]:
    """``key -> (value, line number)`` from the lines between the ``---`` markers.

    Read with PyYAML's safe loader (what ``yaml.safe_load`` uses), one key at a time so that each value keeps the
    line of its key for the errors; a YAML error names the line PyYAML marks. (The pure-Python loader, 2.4 ms for
    the four shipped personas: libyaml's takes 0.75 ms but says less, "unknown escape character" without which.)
    PyYAML is imported here, when the first persona file is read: importing it takes ~13 ms, which the start-up
    path need not pay up front.
    """
    import yaml

    try:
        loader = yaml.SafeLoader("".join(lines))
        try:
            return _keys(loader, first_line)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise FrontMatterError(first_line + _blamed_line(exc, len(lines)), _said(exc)) from None
    except yaml.YAMLError as exc:  # not marked: a character YAML does not accept
        raise FrontMatterError(first_line, f"not valid YAML ({' '.join(str(exc).split())})") from None


def _keys(loader: yaml.SafeLoader, first_line: int) -> dict[str, tuple[Any, int]]:
    import yaml

    root = loader.get_single_node()
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise FrontMatterError(first_line + root.start_mark.line, "the front matter must be 'key: value' lines")
    out: dict[str, tuple[Any, int]] = {}
    for key_node, value_node in root.value:
        line = first_line + key_node.start_mark.line
        key = str(loader.construct_object(key_node, deep=True))
        if key in out:
            raise FrontMatterError(line, f"{key!r} is given twice (first on line {out[key][1]})")
        try:
            out[key] = (loader.construct_object(value_node, deep=True), line)
        except ValueError as exc:  # a value YAML reads but Python refuses, e.g. the date 2024-13-45
            raise FrontMatterError(line, f"{key}: {exc}") from None
    return out


def _blamed_line(exc: yaml.MarkedYAMLError, lines: int) -> int:
    """The 0-based line to blame: where YAML found the problem, or, when that is the end of the front matter
    (something left open), where the unclosed thing started."""
    problem, context = exc.problem_mark, exc.context_mark
    if problem is not None and (problem.line < lines or context is None):
        return min(problem.line, max(lines - 1, 0))
    return context.line if context is not None else 0


def _said(exc: yaml.MarkedYAMLError) -> str:
    return f"not valid YAML ({exc.problem}{', ' + exc.context if exc.context else ''})"


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
    if isinstance(value, list | dict):
        raise FrontMatterError(line, f"{key} must be text, not a {'list' if isinstance(value, list) else 'mapping'}")
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
        elif key in ("temperature", "top_p", "max_tokens", "thinking"):
            try:
                value = validate(key, value)
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
