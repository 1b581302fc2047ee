"""What of a streamed Markdown reply is read aloud, cut into sentences as soon as each one is complete.

:class:`SpeechSplitter` takes the reply's deltas, split anywhere, and gives back the sentences to speak. Feeding a
text in any pieces gives the same sentences as feeding it whole: a partial line is cleaned only up to white space
(or a CJK character) outside any inline construct, so a word, URL or link cut by a delta is never read in half.
What is said, and what is not:

- Fenced code blocks (three or more backticks or tildes at the start of a line; also one left open at the end)
  are skipped silently: the code is on screen, and "code omitted" after every block would be noise.
- Tables (lines starting with ``|``) are skipped. Horizontal rules and setext underlines say nothing.
- Inline code is read only when short and word-like (``numpy``, ``pip install rich``); anything else is dropped.
- URLs are dropped; a Markdown link reads its label; an image says nothing; HTML tags are dropped.
- Headings, list bullets and numbers, quote marks, task boxes and emphasis markers are stripped.
- Emoji and other pictographic symbols are dropped (espeak-ng reads out their long Unicode names).
- A sentence ends at ``.``, ``!``, ``?`` or ``…`` followed by white space, at ``。``, ``！`` or ``？``, and at
  every line end (paragraphs, list items, headings: a line ending in a word gets a ``.`` or ``。`` for the pause).
  A ``.`` after an abbreviation (``e.g.``, ``Dr.``, single initials) does not end one; ``3.14``, ``v1.2``
  never do (no space after the dot).
- The first sentence of a reply comes out as soon as it is complete, however short; later ones shorter than
  ``min_chars`` wait to be joined to the next, so speech is not choppy (a skipped block lets them go).
  A sentence longer than ``max_chars`` is cut at the last comma (else space) before the limit, as soon as the
  limit is reached, so a long first sentence does not hold speech back.
- Nothing returned is empty or without a letter or digit.

A backtick, ``[`` or ``<tag`` still open on a line holds the rest of that line until it closes or the line ends.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

MIN_CHARS = 24
MAX_CHARS = 300

_CLOSERS = "\"'”’»)]」』）》】〉"
_C = re.escape(_CLOSERS)
_BOUNDARY = re.compile(rf"\n|[.!?…]+[{_C}]*(?=\s)|[。！？]+[{_C}]*(?=[^{_C}。！？])")
_ABBREVIATIONS = frozenset(
    {"al", "approx", "ca", "cf", "dept", "dr", "fig", "incl", "jr", "mr", "mrs", "ms", "prof", "resp", "sr", "st", "vs"}
)
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]|[A-HJ-Z]")  # e.g, i.e, U.S, a.m; one capital but "I"
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|[，、；：]")

# Inline constructs, one pass, leftmost first; ``code`` keeps its pairing rule (equal backtick runs).
_INLINE = re.compile(
    r"(?P<image>!\[[^\]]*\]\([^)\s]*\))"
    r"|(?P<link>\[(?P<label>[^\]]*)\]\([^)\s]*\))"
    r"|(?<!`)(?P<ticks>`+)(?!`)(?P<code>.+?)(?<!`)(?P=ticks)(?!`)"
    r"|(?P<tag></?[A-Za-z][^>]*>)"
    r"|(?P<url>(?:https?://|www\.)[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]*[A-Za-z0-9\-_~/#=&%+])"
)
_MAYBE_LINK = re.compile(r"!?\[[^\]]*(?:\](?:\([^)\s]*)?)?")  # all the rest of the line may still become a link
_MAYBE_TAG = re.compile(r"<[A-Za-z/][^>]*")
_SPOKEN_CODE = re.compile(r"[A-Za-z][\w.\- ]{0,23}")
_MARKUP = re.compile(r"[-=_*~]{3,}|\*+|~~|(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])|[`\[\]]")
_SPACES = re.compile(r"\s+")
_LINE_HEAD = re.compile(r"\s*(?:(?:[-*+]|\d{1,9}[.)]|#{1,6})\s+|>\s*|\[[ xX]\]\s+)*")
_FENCE = re.compile(r"(`{3,})[^`]*|(~{3,}).*")
_WORD = re.compile(r"\w")
_SKIPPED_CHARS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}  # zero-width joiner, variation selectors, keycap


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF


def _is_pictograph(ch: str) -> bool:
    return ch in _SKIPPED_CHARS or (ord(ch) >= 0x2000 and unicodedata.category(ch) in ("So", "Sk", "Cs"))


def _inline(match: re.Match[str]) -> str:
    if match["link"] is not None:
        return clean(match["label"])
    if match["code"] is not None:
        code = match["code"].strip()
        return f" {code} " if _SPOKEN_CODE.fullmatch(code) else " "
    return " "


def clean(text: str) -> str:
    """``text`` (one line, or a piece of one) without Markdown, URLs, tags and emoji; white space collapsed."""
    text = _MARKUP.sub("", _INLINE.sub(_inline, text).replace("|", " "))
    text = "".join(ch for ch in text if not _is_pictograph(ch))
    return _SPACES.sub(" ", text)


def _opens(line: str, j: int) -> bool:
    """Whether ``line[j]`` starts a construct that the rest of the line does not finish (yet)."""
    ch = line[j]
    if ch == "[":
        return _MAYBE_LINK.fullmatch(line, j) is not None
    if ch == "<":
        return _MAYBE_TAG.fullmatch(line, j) is not None
    return ch == "`"


def _safe_cut(line: str) -> int:
    """How much of a partial line can be cleaned now: up to white space or a CJK character, outside constructs,
    and before any construct that later text may still change."""
    spans = [m.span() for m in _INLINE.finditer(line)]
    stop, i = len(line), 0
    for start, end in [*spans, (stop, stop)]:
        stop = next((j for j in range(i, start) if _opens(line, j)), stop)
        if stop < len(line):
            break
        i = end
    for k in range(stop, 0, -1):
        ch = line[k - 1]
        if (ch.isspace() or _is_cjk(ch)) and not any(s < k < e for s, e in spans):
            return k
    return 0


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """False for the dot of an abbreviation or initial ("e.g.", "Dr.", "J.")."""
    if match.group() != ".":
        return True
    word = text[: match.start()].rsplit(None, 1)[-1:] or [""]
    token = word[0].lstrip("(\"'“‘[")
    return not token or not (token.lower() in _ABBREVIATIONS or _INITIALS.fullmatch(token))


def _next_boundary(text: str) -> tuple[int, int, bool] | None:
    """(end of the sentence, where the next one starts, whether a line ended) of the first boundary in ``text``."""
    for match in _BOUNDARY.finditer(text):
        if match.group() == "\n":
            return match.start(), match.end(), True
        if _ends_sentence(text, match):
            return match.end(), match.end(), False
    return None


def _long_cut(text: str, low: int, high: int) -> int:
    """Where to cut ``text`` (longer than ``high``): after the last clause mark, else at the last space."""
    best = 0
    for match in _CLAUSE_END.finditer(text, 0, high):
        if match.end() >= low:
            best = match.end()
    if best:
        return best
    space = text.rfind(" ", low, high + 1)
    return space if space > 0 else high


def tidy(text: str) -> str:
    """A sentence ready to speak: single spaces, no space before punctuation, no leading punctuation."""
    text = re.sub(r"\(\s*\)", "", text)
    text = _SPACES.sub(" ", text)
    text = re.sub(r" ([,.;:!?…。！？，、；：])", r"\1", text)
    text = re.sub(r"\s#+$", "", text)  # a heading's closing hashes
    return text.strip().lstrip(",.;:!?…)] ").strip()


class SpeechSplitter:
    """Turns one streamed reply into sentences to speak. ``feed`` each delta, ``flush`` at the end (which also
    makes the splitter ready for the next reply)."""

    def __init__(self, *, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._reset()

    def _reset(self) -> None:
        self._line = ""  # the current line's raw text, complete or not
        self._done = 0  # how much of it has been cleaned into ``_open``
        self._at_head = True  # still in the line's markers (bullet, heading, quote)
        self._fence: str | None = None  # the open code fence's marker
        self._open = ""  # clean text whose sentence has not ended yet
        self._held = ""  # short sentences waiting to be joined to the next
        self._said = False  # the first sentence is out

    def feed(self, delta: str) -> list[str]:
        """The sentences that ``delta`` completed, in order."""
        out: list[str] = []
        self._line += delta
        while "\n" in self._line:
            line, self._line = self._line.split("\n", 1)
            self._end_line(line, out.append)
        self._advance(out.append)
        return out

    def flush(self) -> list[str]:
        """The rest of the reply: the last sentence, even without an end mark. An open code block says nothing."""
        out: list[str] = []
        if self._line:
            line, self._line = self._line, ""
            self._end_line(line, out.append)
        rest = self._open.strip()
        if rest:
            self._piece(rest, False, out.append)
        self._release(out.append)
        self._reset()
        return out

    # raw lines → clean text
    def _advance(self, emit: Callable[[str], None]) -> None:
        """Clean what of the partial line is settled: a sentence must not wait for its line to end."""
        if self._fence is not None or not self._line.strip():
            return
        if self._done == 0:
            head = self._line.lstrip()
            if head.startswith(("```", "~~~", "|")) or (len(head) < 3 and len(set(head)) == 1 and head[0] in "`~"):
                return  # a fence or a table row: wait for the whole line
        rest = self._line[self._done :]
        cut = _safe_cut(rest)
        if cut:
            self._done += cut
            self._add(rest[:cut], emit)

    def _end_line(self, line: str, emit: Callable[[str], None]) -> None:
        rest, untouched, self._done = line[self._done :], self._done == 0, 0
        stripped = line.strip()
        if self._fence is not None:
            if stripped.startswith(self._fence) and not stripped.strip(self._fence[0]):
                self._fence = None
            return
        if untouched and (_FENCE.fullmatch(stripped) or stripped.startswith("|")):
            fence = _FENCE.fullmatch(stripped)
            self._fence = (fence[1] or fence[2]) if fence else None
            self._release(emit)  # skipped text: nothing follows soon to join a short sentence to
            return
        self._add(rest, emit)
        self._at_head = True
        self._open = self._open.rstrip(" ") + "\n"
        self._scan(emit)

    def _add(self, raw: str, emit: Callable[[str], None]) -> None:
        if self._at_head:
            raw = _LINE_HEAD.sub("", raw, count=1)
            if not raw.strip():
                return
            self._at_head = False
        text = clean(raw)
        if not self._open or self._open.endswith((" ", "\n")):
            text = text.lstrip(" ")
        self._open += text
        self._scan(emit)

    # clean text → sentences
    def _scan(self, emit: Callable[[str], None]) -> None:
        while (found := _next_boundary(self._open)) is not None:
            end, start, line_end = found
            sentence, self._open = self._open[:end], self._open[start:].lstrip(" \n")
            self._piece(self._cut_long(sentence, emit), line_end, emit)
        self._open = self._cut_long(self._open, emit)

    def _cut_long(self, text: str, emit: Callable[[str], None]) -> str:
        """Say the front of ``text`` while it is longer than ``max_chars``; the rest."""
        while len(text) > self.max_chars:
            cut = _long_cut(text, self.max_chars // 3, self.max_chars)
            self._piece(text[:cut], False, emit)
            text = text[cut:].lstrip(" ")
        return text

    def _piece(self, raw: str, line_end: bool, emit: Callable[[str], None]) -> None:
        text = tidy(raw)
        if not _WORD.search(text):
            return
        last = text.rstrip(_CLOSERS)[-1:]
        if line_end and last.isalnum():
            text += "。" if _is_cjk(last) else "."
        if not self._said:
            self._said = True
            emit(text)
            return
        if self._held:
            text = self._held + ("" if _is_cjk(self._held[-1]) and _is_cjk(text[0]) else " ") + text
        self._held = text if len(text) < self.min_chars else ""
        if not self._held:
            emit(text)

    def _release(self, emit: Callable[[str], None]) -> None:
        if self._held:
            emit(self._held)
            self._held = ""


def speakable(text: str) -> list[str]:
    """The sentences of a whole reply."""
    splitter = SpeechSplitter()
    return splitter.feed(text) + splitter.flush()
