"""``vt-tui search TERM``: messages of every stored conversation that hold TERM, best first, one hit a line.

A line: when the conversation last changed, its id (``vt-tui --conversation ID`` opens it), its title, what matched
(``you``, ``reply`` or ``title``) and a snippet with each match in reverse video on a terminal, between ``[`` and
``]`` elsewhere. ``--json``: one object a line, the snippet plain and the matches as ``[start, end]`` offsets.
Finding nothing is no failure (exit 0, a line on stderr); a query with no word in it is a usage error (2).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from dataclasses import asdict
from typing import TextIO

from vt_tui.core.sanitize import inert
from vt_tui.core.search import HitSide, SearchHit, words
from vt_tui.core.store import Store, StoreError, failure_words
from vt_tui.headless import ExitCode
from vt_tui.settings import Settings

SIDE_WORDS = {HitSide.TITLE: "title", HitSide.USER: "you", HitSide.ASSISTANT: "reply"}
REVERSE, NO_REVERSE, BOLD, NO_BOLD = "\x1b[7m", "\x1b[27m", "\x1b[1m", "\x1b[22m"


def line(hit: SearchHit, tty: bool) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.updated))
    title = inert(hit.title) or "(untitled)"
    snippet = hit.marked(REVERSE, NO_REVERSE) if tty else hit.marked()
    if tty:
        title = f"{BOLD}{title}{NO_BOLD}"
    return f"{when}  #{hit.conversation_id}  {title}  {SIDE_WORDS[hit.side]}: {snippet}"


def run(
    settings: Settings, query: str, as_json: bool, limit: int, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if not words(query):
        err.write("vt-tui search: nothing to search for (give a word with a letter or a digit)\n")
        return ExitCode.USAGE
    path = settings.database_path()
    if not path.exists():  # nothing to search, and no reason to create the file
        err.write(f"No conversations stored yet ({path}).\n")
        return ExitCode.OK
    try:
        store = Store(path)
    except StoreError as exc:
        err.write(f"vt-tui: {exc}\n")
        return ExitCode.FAILED
    except sqlite3.Error as exc:  # not an SQLite file, say
        err.write(f"vt-tui search: {failure_words(exc, path)}\n")
        return ExitCode.FAILED
    try:
        hits = store.search(query, limit)
    except sqlite3.Error as exc:
        err.write(f"vt-tui search: {failure_words(exc, path)}\n")
        return ExitCode.FAILED
    finally:
        store.close()
    tty = out.isatty()
    for hit in hits:
        out.write((json.dumps(asdict(hit), ensure_ascii=False) if as_json else line(hit, tty)) + "\n")
    if not hits:
        err.write(f"Nothing found for {query!r}.\n")
    return ExitCode.OK
