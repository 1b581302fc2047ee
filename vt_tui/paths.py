"""Where vt-tui keeps its files: XDG config, data and state directories."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "vt-tui"


def _xdg(env: str, fallback: str) -> Path:
    value = os.environ.get(env)
    base = Path(value) if value and os.path.isabs(value) else Path.home() / fallback
    return base / APP_NAME


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/vt-tui``: config.toml, user prompts/ and tools/."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """``$XDG_DATA_HOME/vt-tui``: the conversations database."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """``$XDG_STATE_HOME/vt-tui``: logs, the embedded server's log, prompt history."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def config_file() -> Path:
    return config_dir() / "config.toml"


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
