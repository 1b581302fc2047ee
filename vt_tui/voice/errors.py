"""The voice package's one user-facing error: what happened, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass

INSTALL_HINT = "install the voice extra: pip install 'vt-tui[voice]'"


@dataclass(eq=False)  # not frozen: contextlib assigns __traceback__ on exceptions
class VoiceError(Exception):
    """One line for the status bar (``message``) and the fix (``hint``); ``status`` is the HTTP status, if any."""

    message: str
    hint: str = ""
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message
