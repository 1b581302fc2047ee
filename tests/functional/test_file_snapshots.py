"""What the composer looks like with attachment chips (a file, a long paste) and the completions of an ``@path``
being typed, at 80×24 and 160×48 (pytest-textual-snapshot; SVGs in __snapshots__)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual import events

from tests.functional.test_snapshots import frozen_gpu
from tests.support.scripted_server import ScriptedServer
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.composer import Composer

LOG = "".join(f"2024-05-01 12:00:{n % 60:02} INFO worker {n} ok\n" for n in range(214))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_chips_and_completions(
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    for name in ("notes.md", "notes-2024.md", "novel.txt", "src/app.py"):
        (work / name).write_text("hello\n" * 12)
    monkeypatch.chdir(work)
    with ScriptedServer(models=["Qwen2.5-7B-Instruct"]) as server:
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path, tools="off"), sampler_factory=frozen_gpu)

        async def run_before(pilot) -> None:
            await asyncio.wait_for(app.ready.wait(), 10)
            app.chat_screen.status_bar.show(endpoint="http://127.0.0.1:8000/v1")  # the port changes per run
            composer = app.query_one(Composer)
            composer.cursor_blink = False
            composer.load_text("/file notes.md")
            await pilot.press("enter")  # a /file line alone waits for the prompt
            app.post_message(events.Paste(LOG))
            await pilot.press(*"compare with @no")
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=run_before)
