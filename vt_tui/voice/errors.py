"""The voice package's one user-facing error: what happened, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass

from vt_tui.core.errors import VtError

INSTALL_HINT = "install the voice extra: pip install 'vt-tui[voice]'"


@dataclass(eq=False)  # not frozen: contextlib assigns __traceback__ on exceptions
class VoiceError(VtError):
    """Recording, transcribing or speaking failed; ``status`` is the HTTP status, if any."""

    message: str
    hint: str = ""
    status: int | None = None
