"""Logging for every command: to a file in the state dir, never to the terminal (under the app, or into the
answer ``vt-tui ask`` prints)."""

from __future__ import annotations

import logging
from pathlib import Path

from vt_tui import paths

LOG_NAME = "vt-tui.log"


def log_to_file() -> Path:
    """Send the root logger to ``$XDG_STATE_HOME/vt-tui/vt-tui.log`` (mode 0600 folder) and return its path.

    Calling it again adds no second handler."""
    path = paths.private_dir(paths.state_dir()) / LOG_NAME
    root = logging.getLogger()
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path) for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


def log_failure(what: str, error: BaseException) -> Path:
    """Write ``error`` with its traceback to the log file; returns the file's path, to tell the user."""
    path = log_to_file()
    logging.getLogger("vt_tui").error("%s failed", what, exc_info=error)
    return path
