"""The context window in the app (Pilot, the scripted vLLM with a small window): the status bar's figure, the dialog
for a message that does not fit (drop, compact, edit, Esc), dimmed turns, the compaction block and its undo."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.functional.test_app import send
from tests.support.engine_windows import play
from tests.support.screen import run_palette_command, screen_text
from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.core.store import CompactionStatus, Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.screens.context import ContextScreen
from vt_tui.ui.widgets.chat_log import AssistantMessage, CompactionBlock, UserMessage
from vt_tui.ui.widgets.composer import Composer

SIZE = (100, 30)
LONG = "word " * 500  # with the three padded turns (~400 tokens), over the 900-token window; alone, not
PADDED = "padding " * 60


def make_app(server: ScriptedServer, data: Path, **settings) -> VtApp:
    return VtApp(Settings(base_url=server.base_url, data_dir=data, tools="off", max_tokens=256, **settings))


async def send_over(app: VtApp, pilot, text: str) -> ContextScreen:
    """Send ``text``, which does not fit: the dialog opens (the turn's worker waits for it)."""
    app.query_one(Composer).load_text(text)
    await pilot.press("enter")
    for _ in range(100):
        await pilot.pause(0.05)
        if isinstance(app.screen, ContextScreen):
            return app.screen
    raise AssertionError(f"no dialog: {screen_text(app)}")


@asynccontextmanager
async def conversation(data: Path, turns: int = 3) -> AsyncIterator[tuple[VtApp, object, ScriptedServer]]:
    """The app on the scripted vLLM with a 900-token window, ``turns`` padded exchanges in: (app, pilot, server)."""
    with ScriptedServer(models=["m"]) as server:
        play(server, "vllm", 900)
        app = make_app(server, data)
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            for n in range(turns):
                await send(app, pilot, f"question {n} {PADDED}")
            assert len(server.chat_requests) == turns
            yield app, pilot, server


async def done(app: VtApp, pilot) -> None:
    """The key pressed in the dialog has been acted on (a compaction, a turn)."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def out_of_context(app: VtApp) -> list[str]:
    return [w.text for w in app.query(UserMessage) if w.has_class("out-of-context")]


async def test_the_dialog_drops_the_oldest_turns_then_sends(tmp_path: Path) -> None:
    async with conversation(tmp_path) as (app, pilot, server):
        status = app.status
        assert status.context_limit == 900 and status.context_exact and status.context_tokens > 400
        assert f"ctx {status.context_tokens} / 900" in screen_text(app)
        dialog = await send_over(app, pilot, LONG)
        shown = screen_text(app)
        assert "does not fit the context window" in shown and "for a 900-token window" in shown
        assert "over" in shown and "Drop the oldest" in shown and "Compact" in shown and "Edit" in shown
        assert dialog.relief.drop
        await pilot.press("d")
        await done(app, pilot)
        assert len(server.chat_requests) == 4 and "question 0" not in str(server.chat_requests[-1]["messages"])
        assert out_of_context(app)[0].startswith("question 0")
        assert app.query(AssistantMessage).last().text.startswith("You said: word")
        dividers = [str(w.render()) for w in app.query(".divider")]
        assert any("oldest turn" in d and "no longer sent" in d for d in dividers), dividers
    dropped = len(dialog.relief.drop)
    turns = Store(tmp_path / "conversations.sqlite3").turns(1)
    assert [t.in_context for t in turns] == [False] * dropped + [True] * (4 - dropped)


async def test_edit_and_esc_give_the_message_back_and_send_nothing(tmp_path: Path) -> None:
    async with conversation(tmp_path, turns=2) as (app, pilot, server):
        for key in ("e", "escape"):
            await send_over(app, pilot, LONG)
            await pilot.press(key)
            await done(app, pilot)
            assert not isinstance(app.screen, ContextScreen)
            assert app.query_one(Composer).text == LONG.strip()
            assert len(server.chat_requests) == 2 and len(app.query(UserMessage)) == 2
            assert not out_of_context(app) and "back in the composer" in app.status.message
            app.query_one(Composer).load_text("")


async def test_compact_streams_a_folded_block_then_sends_and_undo_brings_the_turns_back(tmp_path: Path) -> None:
    async with conversation(tmp_path) as (app, pilot, server):
        dialog = await send_over(app, pilot, LONG)
        compacted = len(dialog.relief.compact)
        assert compacted >= 2  # the persona's system prompt leaves less room: more than the two oldest
        server.queue(text_reply("Three padded questions, 0 to 2.", chunk_delay=0.02))
        await pilot.press("c")
        await done(app, pilot)
        block = app.query_one(CompactionBlock)
        assert block.collapsed and f"{compacted} turns compacted: ~" in block.title
        assert "→ 6 tokens (the summary is sent instead)" in block.title  # the server's count of the summary
        assert "Three padded questions" in str(server.chat_requests[-1]["messages"][0]["content"])
        assert out_of_context(app) == [f"question {n} {PADDED}".strip() for n in range(compacted)]
        block.collapsed = False
        await pilot.pause()
        assert "Three padded questions, 0 to 2." in screen_text(app)
        await run_palette_command(pilot, "Undo compaction")
        assert not out_of_context(app) and "undone: the turns are sent again" in block.title
    [stored] = Store(tmp_path / "conversations.sqlite3").compactions(1)
    assert stored.status is CompactionStatus.UNDONE and stored.summary == "Three padded questions, 0 to 2."
