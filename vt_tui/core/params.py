"""Generation parameters: what each may hold, and which ones an engine accepts but ignores.

``validate`` is the one rule for a value, whatever its source: flags, ``$VT_TUI_*`` and ``config.toml``
(:func:`vt_tui.settings.coerce`), a persona's front matter, the parameters dialog. ``parse`` reads one from what a
person typed, ``check`` checks a whole :class:`GenerationParams`. Every error is a ``ValueError`` whose message
names the parameter and the allowed range, fit to show as it is. Nothing here imports more than the standard
library and the engine profiles: :mod:`vt_tui.settings` reads it on the path of ``vt-tui --version``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from vt_tui.core.profiles import EngineProfile, Thinking

DEFAULT_MAX_TOKENS = 1024  # always sent: engine defaults range from 16 tokens to no limit (see profiles)
PARAMS = ("temperature", "top_p", "max_tokens", "stop", "seed", "thinking")
MAX_TOKENS_LIMIT = 1_000_000
MAX_STOP = 4
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # engines take a signed or unsigned 64-bit seed (llama.cpp: -1 = random)
# None means "not sent: the engine's default" for these; max_tokens is always sent.
OPTIONAL = frozenset({"temperature", "top_p", "stop", "seed"})

HELP = {
    "temperature": "0 to 2; empty: the engine's default",
    "top_p": "above 0, at most 1; empty: the engine's default",
    "max_tokens": f"a whole number from 1 to {MAX_TOKENS_LIMIT:,}",
    "stop": rf"up to {MAX_STOP}, comma-separated; \n newline, \, comma; empty: none",
    "seed": "a whole number; empty: random",
    "thinking": f"{', '.join(Thinking)}; empty: auto (nothing sent)",
}


@dataclass
class GenerationParams:
    """What a user can tune per conversation. ``max_tokens`` is always sent (engine defaults vary); ``thinking``
    is sent as each engine takes it (:meth:`vt_tui.core.endpoint.Endpoint.request_params`)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    stop: list[str] | None = None
    seed: int | None = None
    thinking: Thinking = Thinking.AUTO

    def as_request(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (got {value!r})")
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number (got {value!r})")
    return value


def validate(name: str, value: Any) -> Any:
    """``value`` as ``GenerationParams`` holds it (temperature as float, stop as a list), or ``ValueError``."""
    if name not in PARAMS:
        raise ValueError(f"unknown generation parameter {name!r} (known: {', '.join(PARAMS)})")
    if name == "thinking":
        if value is None:
            return Thinking.AUTO
        if value is False:  # YAML reads a persona's "thinking: off" as false
            return Thinking.OFF
        if value not in tuple(Thinking):
            raise ValueError(f"thinking must be one of {', '.join(Thinking)} (got {value!r})")
        return Thinking(value)
    if value is None:
        if name in OPTIONAL:
            return None
        raise ValueError(f"{name} must be set: {HELP[name]}")
    if name == "temperature":
        number = _number(name, value)
        if not 0 <= number <= 2:
            raise ValueError(f"temperature must be from 0 to 2 (got {value!r})")
        return number
    if name == "top_p":
        number = _number(name, value)
        if not 0 < number <= 1:
            raise ValueError(f"top_p must be above 0 and at most 1 (got {value!r})")
        return number
    if name == "max_tokens":
        number = _integer(name, value)
        if not 1 <= number <= MAX_TOKENS_LIMIT:
            raise ValueError(f"max_tokens must be from 1 to {MAX_TOKENS_LIMIT:,} (got {value!r})")
        return number
    if name == "stop":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, Sequence) or not all(isinstance(s, str) for s in items):
            raise ValueError(f"stop must be a list of strings (got {value!r})")
        if any(s == "" for s in items):
            raise ValueError("stop strings must not be empty")
        if len(items) > MAX_STOP:
            raise ValueError(f"stop takes at most {MAX_STOP} strings (got {len(items)})")
        return list(items) or None
    number = _integer(name, value)  # seed
    if not SEED_MIN <= number <= SEED_MAX:
        raise ValueError(f"seed must fit in 64 bits (got {value!r})")
    return number


def split_stop(text: str) -> list[str]:
    r"""``a, b`` → ``["a", "b"]``; ``\,`` is a comma, ``\n`` a newline, ``\t`` a tab, ``\\`` a backslash, ``\xNN``
    and ``\uNNNN`` any character."""
    items: list[str] = []
    current: list[str] = []
    escapes = {"n": "\n", "t": "\t", ",": ",", "\\": "\\"}
    i = 0
    while i < len(text):
        ch = text[i]
        i += 1
        if ch == "\\":
            nxt = text[i : i + 1]
            i += 1
            if nxt in ("x", "u"):
                digits = text[i : i + (2 if nxt == "x" else 4)]
                if len(digits) != (2 if nxt == "x" else 4) or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise ValueError(rf"stop: \{nxt} needs {2 if nxt == 'x' else 4} hex digits")
                i += len(digits)
                current.append("\0" + chr(int(digits, 16)))
                continue
            if nxt not in escapes:
                raise ValueError(rf"stop: unknown escape \{nxt} (use \n, \t, \, \\ or \xNN)")
            current.append("\0" + escapes[nxt])  # marked: not stripped below
        elif ch == ",":
            items.append(_join(current))
            current = []
        else:
            current.append(ch)
    items.append(_join(current))
    if len(items) == 1 and items[0] == "":
        return []
    if any(item == "" for item in items):
        raise ValueError("stop strings must not be empty (two commas in a row, or a trailing comma?)")
    return items


def _join(pieces: list[str]) -> str:
    """Strip unescaped spaces at both ends, keep escaped characters (marked with a leading NUL)."""
    while pieces and pieces[0] in (" ", "\t"):
        pieces = pieces[1:]
    while pieces and pieces[-1] in (" ", "\t"):
        pieces = pieces[:-1]
    return "".join(p[1:] if p.startswith("\0") else p for p in pieces)


def join_stop(stop: Sequence[str] | None) -> str:
    """The inverse of :func:`split_stop`, for showing a list in one line."""
    if not stop:
        return ""
    return ", ".join(_escape_one(s) for s in stop)


def _escape_one(text: str) -> str:
    body = text.strip(" ")
    lead, trail = len(text) - len(text.lstrip(" ")), len(text) - len(text.rstrip(" "))
    if not body:  # all spaces
        lead, trail = len(text), 0
    return "\\x20" * lead + "".join(_escape(ch) for ch in body) + "\\x20" * trail


def _escape(ch: str) -> str:
    """One character of a stop string as typed: control characters as escapes, so the line stays inert."""
    named = {"\\": "\\\\", ",": "\\,", "\n": "\\n", "\t": "\\t"}
    if ch in named:
        return named[ch]
    if ch.isprintable() or ch == " ":
        return ch
    if ord(ch) > 0xFFFF:
        return ch  # not a terminal control (those are C0 and C1)
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def parse(name: str, text: str) -> Any:
    """Read what a person typed; empty means None (not sent) where the parameter is optional."""
    text = text.strip()
    if name == "stop":
        return validate(name, split_stop(text))
    if name == "thinking":
        return validate(name, text.lower() or None)
    if not text:
        return validate(name, None)
    if name in ("max_tokens", "seed"):
        try:
            value: Any = int(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"{name} must be a whole number (got {text!r})") from None
    else:
        try:
            value = int(text) if text.lstrip("+-").isdigit() else float(text)  # "7" shows as 7 in a message
        except ValueError:
            raise ValueError(f"{name} must be a number (got {text!r})") from None
    return validate(name, value)


def show(name: str, value: Any) -> str:
    """A value as the dialog shows it (empty for None)."""
    if value is None:
        return ""
    if name == "stop":
        return join_stop(value)
    return str(value)


def check(params: GenerationParams) -> GenerationParams:
    """A copy of ``params`` with every value validated (the first bad one raises ``ValueError``)."""
    values = {f.name: validate(f.name, getattr(params, f.name)) for f in fields(params)}
    return GenerationParams(**values)


def ignored_by(profile: EngineProfile, params: GenerationParams | None = None) -> list[str]:
    """Generation parameters ``profile``'s engine accepts and silently ignores, in :data:`PARAMS` order.

    With ``params``, only those that are set (would be sent) — the ones worth a warning. ``thinking`` counts when
    the engine has no per-request switch for it.
    """
    ignored = [name for name in PARAMS if name in profile.ignored_params]
    if profile.thinking.off is None and profile.thinking.effort is None:
        ignored.append("thinking")
    if params is not None:
        sent = params.as_request()
        ignored = [name for name in ignored if name in sent and not (name == "thinking" and sent[name] == "auto")]
    return ignored
