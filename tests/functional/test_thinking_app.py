"""Thinking in the chat, driven with Pilot against the scripted server: live above the answer, folded once the
answer starts, Ctrl+T / Alt+T, the hide setting, a thought with no answer, stored turns, F12 and export."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.functional.test_app import send
from tests.support.screen import screen_text
from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage
from vt_tui.ui.widgets.composer import Composer
from vt_tui.ui.widgets.thinking import LIVE_LINES, ThinkingBlock

SIZE = (100, 30)
THOUGHT = "\n".join(f"Line {n}: is {n * 7} a multiple of 17? No, keep going." for n in range(1, 31))
ANSWER = "17 is **prime**."


def thinking_reply(thought: str = THOUGHT, answer: str = ANSWER, **kw) -> Reply:
    """Inline thinking (llama.cpp without a reasoning format), in small pieces, then the answer."""
    content = f"<think>\n{thought}\n</think>\n\n{answer}"
    return Reply(chunks=[{"content": content[i : i + 9]} for i in range(0, len(content), 9)], **kw)


def make_app(server: ScriptedServer, data: Path, **kw) -> VtApp:
    return VtApp(Settings(base_url=server.base_url, data_dir=data, tools="off", **kw))


def last_reply(app: VtApp) -> AssistantMessage:
    return app.query(AssistantMessage).last()


async def test_thinking_streams_live_then_folds_to_one_line_when_the_answer_starts(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    reply = thinking_reply()
    reply.pause_at = len(reply.chunks) - 4  # mid-thought, the tail of it on screen: the test looks now
    reply.pause_s = 1.5
    scripted.queue(reply)
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        app.query_one(Composer).load_text("Is 17 prime?")
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.05)
            message = last_reply(app) if app.query(AssistantMessage) else None
            if message is not None and message.thinking is not None and "Line 29" in message.thinking.text:
                break
        await pilot.pause(0.2)
        block = last_reply(app).thinking
        assert block is not None and block.live and block.shown
        shown = screen_text(app)
        assert "Thinking…" in shown and "Line 28" in shown and "Line 1:" not in shown  # it follows the end
        assert len(str(block.body.render()).splitlines()) <= LIVE_LINES and block.body.size.height <= LIVE_LINES
        await app.workers.wait_for_complete()
        await pilot.pause()
        message = last_reply(app)
        assert message.text == ANSWER and "<think>" not in message.text
        assert not block.live and not block.shown and not block.body.display
        head = str(block.head.render())
        assert head.startswith("Thought for ") and head.endswith(" tokens ▸") and " s · ~" in head
        assert "Line 28" not in screen_text(app) and "17 is prime." in screen_text(app)
    (turn,) = Store(tmp_path / "conversations.sqlite3").turns(1)
    assert turn.assistant_text == ANSWER and turn.thinking.strip() == THOUGHT


async def test_ctrl_t_opens_the_reply_in_view_and_alt_t_every_reply(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(thinking_reply("First thought."), thinking_reply("Second thought.", "Two."))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await send(app, pilot, "one")
        await send(app, pilot, "two")
        first, second = (m.thinking for m in app.query(AssistantMessage))
        assert first is not None and second is not None and not first.shown and not second.shown
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert second.shown and not first.shown and "Second thought." in screen_text(app)
        assert str(second.head.render()).endswith("▾")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not second.shown
        await pilot.press("alt+t")
        await pilot.pause()
        assert first.shown and second.shown
        await pilot.press("alt+t")
        await pilot.pause()
        assert not first.shown and not second.shown
        assert app.query_one(Composer).text == ""  # Alt+T typed nothing into the composer
        await pilot.click(second.head)
        await pilot.pause()
        assert second.shown


async def test_hide_thinking_shows_none_but_keeps_it(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(thinking_reply())
    app = make_app(scripted, tmp_path, hide_thinking=True)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await send(app, pilot, "Is 17 prime?")
        assert not app.query(ThinkingBlock) and last_reply(app).text == ANSWER
        assert "Line 1" not in screen_text(app) and "Thought" not in screen_text(app)
    (turn,) = Store(tmp_path / "conversations.sqlite3").turns(1)
    assert turn.thinking.strip() == THOUGHT


async def test_a_thought_with_no_answer_stays_open_and_says_so(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(Reply(chunks=[{"content": "<think>Counting: 1, 2, 3"}], finish_reason="length"))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await send(app, pilot, "count")
        message = last_reply(app)
        assert message.thinking is not None and message.thinking.shown and not message.thinking.live
        footer = str(message.footer.render())
        assert "no answer" in footer and "max_tokens" in footer
        assert "Counting: 1, 2, 3" in screen_text(app)


async def test_a_stored_conversation_shows_its_thinking_folded(scripted: ScriptedServer, tmp_path: Path) -> None:
    store = Store(tmp_path / "conversations.sqlite3")
    cid = store.create_conversation(title="primes", model="qwen3")
    turn = store.add_turn(cid, "Is 17 prime?", "qwen3", {})
    stats = {"ttft_s": 0.1, "duration_s": 4.0, "tokens": 900, "tokens_source": "server", "thinking_s": 3.2,
             "thinking_tokens": 812, "thinking_tokens_source": "server"}  # fmt: skip
    store.finish_turn(turn, ANSWER, "ok", stats, thinking=THOUGHT)
    store.close()
    app = VtApp(Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off"), conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        block = last_reply(app).thinking
        assert block is not None and not block.shown
        assert str(block.head.render()) == "Thought for 3.2 s · 812 tokens ▸"
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "Line 1: is 7" in screen_text(app)  # opened from its first line
        scripted.queue(text_reply("Yes."))
        await send(app, pilot, "Sure?")
    assert "Line 1" not in str(scripted.chat_requests[-1]["messages"])


async def test_f12_steps_the_thinking_level_and_the_next_request_carries_it(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    scripted.owned_by = "vllm"
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.press("f12")
        await pilot.pause()
        assert app.chat_screen.session.params.thinking == "off"
        await send(app, pilot, "quick one")
        assert scripted.chat_requests[-1]["chat_template_kwargs"] == {"enable_thinking": False}
        await pilot.press("f12", "f12", "f12", "f12")
        await pilot.pause()
        assert app.chat_screen.session.params.thinking == "auto"
        await send(app, pilot, "again")
        assert "chat_template_kwargs" not in scripted.chat_requests[-1]


async def test_markdown_export_folds_the_thinking_into_details(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(thinking_reply("A short thought."))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await send(app, pilot, "Is 17 prime?")
        markdown = app.chat_screen.action_export("md").read_text()
        data = app.chat_screen.action_export("json").read_text()
    assert "<details>\n<summary>Thought for " in markdown and "A short thought.\n\n</details>\n\n17 is" in markdown
    assert '"thinking": "\\nA short thought.\\n"' in data
