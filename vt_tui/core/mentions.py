"""``@path`` in a prompt: the files it names (attached when the prompt is sent) and completing a path as it is typed.

A mention is ``@`` at the start of a word, followed by the path up to the next space (``me@example.com`` is no
mention). One that names no file (``@alice``, ``@src/`` a folder) stays a word of the prompt. A path with spaces
can't be a mention: ``/file PATH`` takes it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vt_tui.core.attachments import resolve

MENTION = re.compile(r"(?<!\S)@(\S+)")
TYPING = re.compile(r"(?:^|\s)@(\S*)$")  # a mention being typed: the text before the cursor ends with it
TRAILING = ".,;:!?)]}'\""  # after a path in a sentence ("see @notes.md.") rather than part of it
# A completion reads at most this many entries of a folder: a few milliseconds (os.scandir, no stat) even on a
# folder of a million files, which would otherwise take seconds and the memory of every name.
SCAN_LIMIT = 5000
SHOWN = 8  # completions offered at a time


def mentioned_files(text: str, cwd: Path | None = None) -> list[str]:
    """The files ``text`` mentions, as written, each once, in order: ``@path`` where path (or path without the
    punctuation that ends a sentence) is a file, relative to ``cwd`` (default: the current directory) or with
    ``~``."""
    found: dict[Path, str] = {}
    for match in MENTION.finditer(text):
        token = match.group(1)
        for candidate in dict.fromkeys((token, token.rstrip(TRAILING))):
            path = resolve(candidate, cwd) if candidate else None
            if path is not None and path.is_file():
                found.setdefault(path, candidate)
                break
    return list(found.values())


def typing_mention(before_cursor: str) -> str | None:
    """The path of the mention being typed when the line ends, at the cursor, with ``@`` and a path; else None."""
    match = TYPING.search(before_cursor)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Completions:
    """What a typed ``@path`` can become: paths relative to where it was typed from (a folder's end in ``/``);
    ``partial`` when the folder had more entries than were read (:data:`SCAN_LIMIT`)."""

    paths: tuple[str, ...] = ()
    partial: bool = False


def complete(typed: str, cwd: Path | None = None, shown: int = SHOWN, scan: int = SCAN_LIMIT) -> Completions:
    """The entries of ``typed``'s folder whose names start with its last part (case-insensitive), sorted. Hidden
    entries only when the last part starts with a dot, as shells complete."""
    head, sep, stem = typed.rpartition("/")
    folder = resolve(head + sep or ".", cwd)
    lowered = stem.lower()
    names: list[str] = []
    partial = False
    try:
        with os.scandir(folder) as entries:
            for read, entry in enumerate(entries):
                if read >= scan:
                    partial = True
                    break
                name = entry.name
                if name.lower().startswith(lowered) and (stem.startswith(".") or not name.startswith(".")):
                    names.append(name + "/" if entry.is_dir() else name)
    except OSError:  # no such folder, or not allowed in: nothing to offer
        return Completions()
    names.sort(key=lambda n: (n.lower(), n))
    return Completions(tuple(head + sep + name for name in names[:shown]), partial)
