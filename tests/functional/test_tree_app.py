"""Conversations as trees in the app, driven with Pilot against the scripted loopback server: moving onto messages,
edit and resend, regenerate, flip between versions, fork, copy, resume, export every branch. What each request
carried is checked against the branch on screen."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.command import CommandPalette

from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage, UserMessage
from vt_tui.ui.widgets.composer import Composer

SIZE = (100, 30)


def make_app(server: ScriptedServer, data: Path, **kw) -> VtApp:
    return VtApp(Settings(base_url=server.base_url, data_dir=data, tools="off"), **kw)


async def settle(app: VtApp, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def send(app: VtApp, pilot, text: str) -> None:
    app.query_one(Composer).load_text(text)
    await pilot.press("enter")
    await settle(app, pilot)


async def conversation(app: VtApp, pilot, *prompts: str) -> None:
    await asyncio.wait_for(app.ready.wait(), 10)
    for prompt in prompts:
        await send(app, pilot, prompt)


def prompts(app: VtApp) -> list[str]:
    return [w.text for w in app.query(UserMessage)]


def replies(app: VtApp) -> list[AssistantMessage]:
    return list(app.query(AssistantMessage))


def footer(reply: AssistantMessage) -> str:
    return str(reply.footer.render())


def sent(server: ScriptedServer) -> list[tuple[str, str]]:
    """The messages of the last request after the system prompt (the persona's), as (role, text)."""
    return [(m["role"], m["content"]) for m in server.chat_requests[-1]["messages"] if m["role"] != "system"]


def branch(*prompts: str) -> list[tuple[str, str]]:
    """The history of a request after ``prompts`` (the last one unanswered), the server echoing each."""
    out: list[tuple[str, str]] = []
    for prompt in prompts[:-1]:
        out += [("user", prompt), ("assistant", f"You said: {prompt}")]
    return [*out, ("user", prompts[-1])]


def on_screen(app: VtApp) -> list[tuple[str, str]]:
    """The branch on screen, as the messages the next request would carry before its prompt."""
    out: list[tuple[str, str]] = []
    for user, reply in zip(app.query(UserMessage), app.query(AssistantMessage), strict=True):
        out += [("user", user.text), ("assistant", reply.text)]
    return out


async def onto(app: VtApp, pilot, *keys: str) -> UserMessage | AssistantMessage:
    """Alt+Up onto the last message, then ``keys`` (up / down); the message focused."""
    await pilot.press("alt+up", *keys)
    await pilot.pause()
    focused = app.focused
    assert isinstance(focused, UserMessage | AssistantMessage), focused
    return focused


async def test_moving_onto_messages_and_back(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a", "b")
        composer = app.query_one(Composer)
        composer.load_text("draft")
        reply = await onto(app, pilot)
        assert reply is replies(app)[-1] and "Edit" in str(app.screen.active_bindings["e"].binding.description)
        assert (await onto(app, pilot)).text == "b"  # Alt+Up again: up one
        await pilot.press("up", "up", "up")
        assert app.focused is app.query(UserMessage).first()
        await pilot.press("up")  # the first: stays
        assert app.focused is app.query(UserMessage).first()
        await pilot.press("down")
        assert app.focused is replies(app)[0]
        await pilot.press("enter")
        assert app.focused is composer and composer.text == "draft"
        await onto(app, pilot)
        await pilot.press("escape")
        assert app.focused is composer
        await onto(app, pilot)
        await pilot.press("down")  # down from the last message: the composer
        assert app.focused is composer


async def test_edit_and_resend_starts_a_new_branch(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a", "b", "c")
        composer = app.query_one(Composer)
        composer.load_text("half-typed")
        await onto(app, pilot, "up", "up", "up")  # the prompt "b"
        await pilot.press("e")
        assert app.focused is composer and composer.text == "b"
        assert composer.border_title == "editing — Enter resends, Esc cancels"
        await pilot.press("escape")  # cancelled: the composer holds what it held
        assert composer.text == "half-typed" and not composer.border_title
        assert prompts(app) == ["a", "b", "c"]

        await onto(app, pilot, "up", "up", "up")
        await pilot.press("e", "end", "B")
        await pilot.press("enter")
        await settle(app, pilot)
        assert sent(scripted) == branch("a", "bB")
        assert prompts(app) == ["a", "bB"] and on_screen(app) == branch("a", "bB", "next")[:-1]
        edited = app.query(UserMessage).last()
        assert "‹ 2/2 ›" in str(edited.render()) and footer(replies(app)[-1]).startswith("‹ 2/2 › · ")
        assert "‹" not in str(app.query(UserMessage).first().render())
        assert composer.text == "half-typed" and not composer.border_title  # the draft is back
        composer.clear()

        await send(app, pilot, "d")  # the new branch goes on
        assert sent(scripted) == branch("a", "bB", "d")


async def test_regenerate_keeps_the_earlier_reply_a_flip_away(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a", "b")
        scripted.queue(text_reply("Another b."))
        await onto(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        assert sent(scripted) == branch("a", "b")
        assert prompts(app) == ["a", "b"] and replies(app)[-1].text == "Another b."
        assert footer(replies(app)[-1]).startswith("‹ 2/2 › · ")
        assert "‹" not in str(app.query(UserMessage).last().render())  # the same prompt: no mark on it

        reply = await onto(app, pilot)
        await pilot.press("left")
        await pilot.pause()
        assert replies(app)[-1].text == "You said: b" and footer(replies(app)[-1]).startswith("‹ 1/2 › · ")
        assert app.focused is replies(app)[-1] and reply is not app.focused
        await pilot.press("left")  # the first version: nothing changes
        await pilot.pause()
        assert replies(app)[-1].text == "You said: b"
        await pilot.press("escape")
        await send(app, pilot, "c")  # continues the branch flipped to
        assert sent(scripted) == branch("a", "b", "c")


async def test_a_flip_redraws_the_conversation_that_followed(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a", "b", "c", "d")
        await onto(app, pilot, *["up"] * 5)  # the prompt "b"
        await pilot.press("e", "end", "2")
        await pilot.press("enter")
        await settle(app, pilot)
        await send(app, pilot, "x")
        assert prompts(app) == ["a", "b2", "x"]
        await onto(app, pilot, "up", "up", "up")  # "b2"
        await pilot.press("left")
        await pilot.pause()
        assert prompts(app) == ["a", "b", "c", "d"] and app.focused is app.query(UserMessage)[1]
        assert "‹ 1/2 ›" in str(app.focused.render())
        await pilot.press("escape")
        await send(app, pilot, "e")
        assert sent(scripted) == branch("a", "b", "c", "d", "e")
        await onto(app, pilot, *["up"] * 7)
        await pilot.press("right")  # back to b2, on its newest leaf
        await pilot.pause()
        assert prompts(app) == ["a", "b2", "x"]
        await pilot.press("escape")
        await send(app, pilot, "y")
        assert sent(scripted) == branch("a", "b2", "x", "y")


async def test_fork_opens_a_new_conversation_up_to_the_message(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a", "b", "c")
        original = app.chat_screen.session.conversation_id
        await onto(app, pilot, "up", "up")  # the reply to "b"
        await pilot.press("f")
        await settle(app, pilot)
        fork = app.chat_screen.session.conversation_id
        assert fork != original and prompts(app) == ["a", "b"] and app.focused is app.query_one(Composer)
        await send(app, pilot, "x")
        assert sent(scripted) == branch("a", "b", "x")
    store = Store(tmp_path / "conversations.sqlite3")
    assert store.conversation(fork).title == "a (fork)"
    assert [t.user_text for t in store.turns(original)] == ["a", "b", "c"]
    assert [t.user_text for t in store.turns(fork)] == ["a", "b", "x"]
    store.close()


async def test_copy_the_focused_message(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(text_reply("first answer"), text_reply("second answer"))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "first prompt", "second prompt")
        await onto(app, pilot, "up", "up", "up")
        await pilot.press("c")
        assert app.clipboard == "first prompt"
        await pilot.press("down", "c")
        assert app.clipboard == "first answer"
        await pilot.press("escape", "f4")  # the last reply, as before
        assert app.clipboard == "second answer"


async def test_a_restart_shows_the_branch_last_shown(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a", "b", "c")
        await onto(app, pilot, "up", "up", "up")
        await pilot.press("e", "end", "2")
        await pilot.press("enter")
        await settle(app, pilot)
        await onto(app, pilot, "up")
        await pilot.press("left")
        await pilot.pause()
        assert prompts(app) == ["a", "b", "c"]
    app = make_app(scripted, tmp_path, resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        assert prompts(app) == ["a", "b", "c"] and "‹ 1/2 ›" in str(app.query(UserMessage)[1].render())
        await send(app, pilot, "d")
        assert sent(scripted) == branch("a", "b", "c", "d")


async def test_every_branch_exports_from_the_palette(scripted: ScriptedServer, tmp_path: Path, xdg_home: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a", "b")
        await onto(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press("escape", "ctrl+p", *"Export every branch as JSON")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, CommandPalette)
        await pilot.press("f9")  # the branch on screen
        await pilot.pause()
    everything, shown = sorted((xdg_home / "data" / "vt-tui" / "exports").iterdir(), key=lambda p: "-all" not in p.name)
    data = json.loads(everything.read_text())
    assert [t["user_text"] for t in data["turns"]] == ["a", "b", "b"]
    a, b1, b2 = (t["id"] for t in data["turns"])
    assert data["branches"] == [[a, b1], [a, b2]] and data["on_screen"] == [a, b2]
    assert [t["id"] for t in json.loads(shown.read_text())["turns"]] == [a, b2]


async def test_an_edit_that_is_not_sent_comes_back_as_an_edit(tmp_path: Path) -> None:
    """Over the window, "edit" in the dialog: the branch comes back on screen, the text into the composer, still an
    edit of that turn; Esc then gives the composer back what it held before."""
    from tests.functional.test_context_app import LONG, done, send_over
    from tests.functional.test_context_app import conversation as over_the_window

    async with over_the_window(tmp_path, turns=3) as (app, pilot, server):
        before = prompts(app)
        await onto(app, pilot, "up")  # the last prompt
        await pilot.press("e")
        await send_over(app, pilot, LONG)
        assert prompts(app) == [*before[:2], LONG.strip()]  # the new version, in the old one's place
        await pilot.press("e")
        await done(app, pilot)
        composer = app.query_one(Composer)
        assert prompts(app) == before and len(server.chat_requests) == 3
        assert composer.text == LONG.strip() and composer.border_title.startswith("editing")
        assert app.chat_screen.editing == app.chat_screen.session.turns[2].id
        await pilot.press("escape")
        assert composer.text == "" and not composer.border_title and app.chat_screen.editing is None


async def test_a_click_on_a_message_leaves_the_keys_to_the_composer(scripted: ScriptedServer, tmp_path: Path) -> None:
    """Its keys act at once (r sends, f forks): a click on a message must not take what is typed next."""
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await conversation(app, pilot, "a")
        await pilot.click(replies(app)[-1])
        await pilot.press("r", "f")
        await pilot.pause()
        assert app.query_one(Composer).text == "rf" and len(scripted.chat_requests) == 1


async def test_the_tool_panel_shows_the_calls_of_the_branch_on_screen(scripted: ScriptedServer, tmp_path: Path) -> None:
    """A version that used the calculator and one that did not: the panel follows the flips, and a new version of
    the turn clears the calls of the one it replaces on screen."""
    from vt_tui.core.events import ToolStatus
    from vt_tui.core.store import TurnStatus
    from vt_tui.ui.widgets.tool_panel import ToolPanel

    store = Store(tmp_path / "conversations.sqlite3")
    cid = store.create_conversation(title="sums", model="chat-model")
    first = store.add_turn(cid, "a", "chat-model", {})
    store.finish_turn(first, "You said: a", TurnStatus.OK, None)
    with_tool = store.add_turn(cid, "what is 6*7?", "chat-model", {})
    store.add_tool_call(with_tool, "c1", "calculator", {"expression": "6*7"})
    store.finish_tool_call(with_tool, "c1", ToolStatus.OK, "42", None, 0.01)
    store.finish_turn(with_tool, "It is 42.", TurnStatus.OK, None)
    without = store.add_turn(cid, "what is 6*7?", "chat-model", {}, parent_id=first)
    store.finish_turn(without, "Forty-two.", TurnStatus.OK, None)
    store.close()
    app = make_app(scripted, tmp_path, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        panel = app.query_one(ToolPanel)
        assert replies(app)[-1].text == "Forty-two." and panel.calls == []
        await onto(app, pilot)
        await pilot.press("left")
        await pilot.pause()
        assert replies(app)[-1].text == "It is 42."
        assert [(c.name, c.result) for c in panel.calls] == [("calculator", "42")]
        scripted.queue(text_reply("6*7 = 42"))
        await pilot.press("r")  # a third version, without tools: the calculator's call goes with the second
        await settle(app, pilot)
        assert replies(app)[-1].text == "6*7 = 42" and panel.calls == []
