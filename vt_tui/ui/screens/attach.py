"""Asks for the path of an image or a text file, completing it from the filesystem as it is typed."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import Suggester
from textual.widgets import Input, Label

from vt_tui.core.attachments import KINDS, LIMITS, AttachmentKind, human_size
from vt_tui.ui.screens.dialog import Dialog


class PathSuggester(Suggester):
    """Completes the last part of a path from its folder's entries (the Right arrow accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        head, sep, stem = value.rpartition("/")
        folder = Path(head or "/").expanduser() if sep else Path()
        try:
            names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(folder) if e.name.startswith(stem))
        except OSError:
            return None
        names = [n for n in names if not n.startswith(".") or stem.startswith(".")]
        return value + names[0][len(stem) :] if names and names[0] != stem else None


TITLES = {
    AttachmentKind.IMAGE: f"Attach image ({KINDS.replace(' or', ',')})",
    AttachmentKind.TEXT: f"Attach text file (UTF-8, up to {human_size(LIMITS[AttachmentKind.TEXT])})",
}


class AttachScreen(Dialog[str | None]):
    """Enter attaches the path typed (→ accepts a completion), Esc closes."""

    def __init__(self, kind: AttachmentKind = AttachmentKind.IMAGE) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(TITLES[self.kind], classes="dialog-title")
            yield Input(placeholder="path, ~ and relative paths work; → completes", suggester=PathSuggester())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
