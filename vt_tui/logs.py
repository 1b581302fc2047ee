"""Logging for every command: to a file in the state dir, never to the terminal (under the app, or into the
answer ``vt-tui ask`` prints)."""

from __future__ import annotations

import logging
from pathlib import Path

from vt_tui import paths


def log_to_file() -> Path:
    """Send the root logger to ``$XDG_STATE_HOME/vt-tui/vt-tui.log`` (mode 0600 folder) and return its path."""
    path = paths.private_dir(paths.state_dir()) / "vt-tui.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path
