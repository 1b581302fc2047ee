"""Searching every stored message: what a hit is, and turning what the user typed into an FTS5 query.

The store (:meth:`vt_tui.core.store.Store.search`) runs the query; the search dialog, ``vt-tui search`` and its
``--json`` show the hits. A snippet is plain one-line text with the spans of the words searched for, so each
shows the match its own way (a style in the dialog, reverse video on a terminal, brackets in a pipe).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from vt_tui.core.sanitize import inert

# Where SQLite's snippet() marks a match. Control characters: a message keeps them (only the screen drops them),
# so one that holds these two can shift a highlight, never inject anything: the snippet is made inert after.
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
SEARCH_LIMIT = 50  # hits listed at most (the dialog's, and ``vt-tui search``'s default)
# A one-letter prefix matches nearly every message, and getting their snippets took 1.6 s over 20,000 stored turns
# here (two letters: 60 ms): a last word of one letter is matched as a whole word.
PREFIX_MIN_CHARS = 2
SNIPPET_TOKENS = 24  # words around the match: wide enough for a 160-column dialog, cut to fit a narrower one
_MARKS = re.compile(f"([{MARK_OPEN}{MARK_CLOSE}])")
_SPACES = re.compile(r"\s+")

Span = tuple[int, int]


class HitSide(StrEnum):
    """What matched: the conversation's title, a prompt the user wrote, or a reply."""

    TITLE = "title"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class SearchHit:
    """One message (or a title) that matches. ``rank`` is SQLite's bm25 (lower is better); None for titles, and
    for every hit on an SQLite without FTS5 (then hits come newest first)."""

    conversation_id: int
    title: str
    turn_id: int | None  # None: the title matched
    side: HitSide
    snippet: str  # one line of plain text, no control characters
    marks: tuple[Span, ...]  # where the words searched for are in the snippet, as (start, end) offsets
    rank: float | None
    updated: float  # when the conversation last changed (epoch seconds)

    def marked(self, open_mark: str = "[", close_mark: str = "]") -> str:
        """The snippet with each match between ``open_mark`` and ``close_mark``."""
        out, at = [], 0
        for start, end in self.marks:
            out += [self.snippet[at:start], open_mark, self.snippet[start:end], close_mark]
            at = end
        return "".join([*out, self.snippet[at:]])


def words(query: str) -> list[str]:
    """The words of ``query`` that can match something: a word with no letter or digit (``*``, ``-``, ``"``) is
    no token to the index, so it is left out rather than matched against nothing."""
    return [word for word in query.split() if any(ch.isalnum() for ch in word)]


def is_prefix(query: str) -> bool:
    """The last word is still being typed: it ends in a letter or digit and no space follows it. ``C++`` is not a
    prefix (it would match every word starting with c), nor is one letter (:data:`PREFIX_MIN_CHARS`)."""
    last = query.split()[-1] if query.strip() else ""
    return query[-1:].isalnum() and sum(ch.isalnum() for ch in last) >= PREFIX_MIN_CHARS


def match_expression(query: str) -> str | None:
    """``query`` as an FTS5 expression that can never be a syntax error: every word a quoted string (so ``AND``,
    ``NEAR``, ``-x``, ``col:`` and quotes are plain text), all of them required, the last one a prefix while it is
    being typed. None when nothing in it can match."""
    terms = words(query)
    if not terms:
        return None
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    if is_prefix(query):
        quoted[-1] += "*"
    return " ".join(quoted)


def parse_snippet(raw: str) -> tuple[str, tuple[Span, ...]]:
    """SQLite's snippet (matches between :data:`MARK_OPEN` and :data:`MARK_CLOSE`) as one line of inert text and
    the spans of its matches."""
    out, marks, start = "", [], None
    for piece in _MARKS.split(raw):
        if piece == MARK_OPEN:
            start = len(out)
        elif piece == MARK_CLOSE:
            if start is not None and len(out) > start:
                marks.append((start, len(out)))
            start = None
        else:
            text = _SPACES.sub(" ", inert(piece))
            out += text[1:] if out.endswith(" ") and text.startswith(" ") else text
    return out.strip(), tuple((s - _lead(out), e - _lead(out)) for s, e in marks)


def _lead(text: str) -> int:
    return len(text) - len(text.lstrip())


def mark_words(text: str, query: str, width: int = 160) -> tuple[str, tuple[Span, ...]]:
    """``text`` as one line, cut to about ``width`` characters around the first word of ``query`` in it, with
    every word of ``query`` marked (case-insensitively). For titles, and for messages on an SQLite without FTS5."""
    line = _SPACES.sub(" ", inert(text)).strip()
    terms = sorted(set(words(query)), key=len, reverse=True)  # the longest first where two overlap
    pattern = re.compile("|".join(re.escape(term) for term in terms), re.IGNORECASE) if terms else None
    found = [m.span() for m in pattern.finditer(line)] if pattern else []
    first = found[0][0] if found else 0
    cut_start = 0 if first < width // 3 else first - width // 3
    cut_end = cut_start + width
    lead = "…" if cut_start else ""
    snippet = lead + line[cut_start:cut_end] + ("…" if cut_end < len(line) else "")
    shift = len(lead) - cut_start
    return snippet, tuple((s + shift, e + shift) for s, e in found if s >= cut_start and e <= cut_end)
