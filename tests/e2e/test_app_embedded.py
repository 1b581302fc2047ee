"""The TUI on the real embedded model: start, ask, read the streamed answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage
from vt_tui.ui.widgets.composer import Composer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def test_app_answers_on_the_embedded_model(tmp_path: Path) -> None:
    app = VtApp(Settings(temperature=0, max_tokens=40, data_dir=tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 90)
        assert app.status.endpoint == "embedded: SmolLM2-135M-Instruct.Q4_1.gguf"
        app.query_one(Composer).load_text("What is the capital of France?")
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        reply = app.query(AssistantMessage).last()
        assert "Paris" in reply.text
        assert "tok/s" in str(reply.footer.render())
        server = app.connection.server
    assert server.process is None, "the embedded server must stop with the app"
