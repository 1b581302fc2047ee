"""The core and the voice package never import Textual or Rich: widgets only render what they produce."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import vt_tui

PACKAGES = ("core", "voice")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_ui_import_in_the_source(package: str) -> None:
    files = sorted((Path(vt_tui.__file__).parent / package).rglob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.split(".")[0] in {"textual", "rich"} for n in names), (path, names)


def test_importing_them_loads_no_textual() -> None:
    code = (
        "import sys, vt_tui.core.session, vt_tui.voice.controller, vt_tui.voice.audio, vt_tui.voice.narrator, "
        "vt_tui.voice.speakable, vt_tui.voice.choice; assert 'textual' not in sys.modules, 'textual imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
