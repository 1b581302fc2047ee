"""Searching conversations as a user does: Ctrl+O in the app (Pilot, real SQLite file, the scripted loopback
server), and ``vt-tui search`` as a subprocess on a real store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.screen import screen_text
from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.screens.confirm import ConfirmScreen
from vt_tui.ui.screens.search import SearchScreen
from vt_tui.ui.widgets.chat_log import AssistantMessage, ChatLog, EarlierMarker, UserMessage
from vt_tui.ui.widgets.composer import Composer

SIZE = (100, 30)
FILLER = "The context window is what a model reads at once: the prompt, the history and the reply. " * 8


def store_with(data: Path, *conversations: tuple[str, list[tuple[str, str]]]) -> list[int]:
    """Conversations of ``(title, [(prompt, reply), …])``, the last one the newest; their ids."""
    store = Store(data / "conversations.sqlite3")
    ids = []
    for n, (title, turns) in enumerate(conversations):
        cid = store.create_conversation(title=title, model="m")
        for prompt, reply in turns:
            store.finish_turn(store.add_turn(cid, prompt, "m", {}), reply, "ok", None)
        store.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (1_000_000.0 + n, cid))
        ids.append(cid)
    store.close()
    return ids


def make_app(server: ScriptedServer, data: Path, **kw) -> VtApp:
    return VtApp(Settings(base_url=server.base_url, data_dir=data, tools="off"), **kw)


async def until(pilot, condition, what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"not in time: {what}")


def dialog(app: VtApp) -> SearchScreen:
    assert isinstance(app.screen, SearchScreen), app.screen
    return app.screen


def titles(app: VtApp) -> list[str]:
    return [row.title for row in dialog(app).rows]


async def test_typing_finds_a_message_and_enter_opens_the_conversation_at_it(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    turns = [(f"Question {n}: tell me more.", FILLER) for n in range(12)]
    turns[1] = ("Question 1: which animal smiles?", "The quokka, a small wallaby of Rottnest Island, seems to smile.")
    hostile = ("[bold red]quokka[/] \x1b[2J\x1b]0;pwned\x07 photos", "Quokka selfies are popular.")
    long_id, other_id = store_with(tmp_path, ("island animals", turns), ("markup", [hostile]))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: titles(app) == ["markup", "island animals"], "the latest conversations")
        await pilot.press(*"quokk")
        await until(pilot, lambda: dialog(app).shown_for == "quokk", "the hits")
        shown = screen_text(app)
        assert "The quokka, a small wallaby" in shown and "island animals" in shown
        assert "[bold red]quokka[/]" in shown and "pwned" not in shown  # verbatim, no escape let through
        assert [row.target.conversation_id for row in dialog(app).rows] == [other_id, long_id]
        await pilot.press("down", "enter")
        chat = app.chat_screen.query_one(ChatLog)
        await until(pilot, lambda: [w for w in chat.query(".found")], "the message found, marked")
        found = list(chat.query(".found"))
        assert len(found) == 1 and isinstance(found[0], AssistantMessage)
        assert "The quokka" in found[0].text and app.chat_screen.session.conversation_id == long_id
        assert chat.query_one(EarlierMarker).count == 1  # the page above it was mounted, not the first turn
        await until(pilot, lambda: chat.scroll_y <= found[0].virtual_region.y < chat.scroll_y + 5, "scrolled to it")
        assert not chat.query(UserMessage).first().text.startswith("Question 0")


async def test_a_hit_on_another_version_opens_that_version(scripted: ScriptedServer, tmp_path: Path) -> None:
    """A regenerated reply that is not on screen: opening its hit shows its branch, and the app remembers it."""
    from vt_tui.core.store import TurnStatus

    store = Store(tmp_path / "conversations.sqlite3")
    cid = store.create_conversation(title="animals", model="m")
    first = store.add_turn(cid, "which animal smiles?", "m", {})
    store.finish_turn(first, "The quokka seems to smile.", TurnStatus.OK, None)
    follow = store.add_turn(cid, "where does it live?", "m", {})
    store.finish_turn(follow, "On Rottnest Island.", TurnStatus.OK, None)
    again = store.add_turn(cid, "which animal smiles?", "m", {}, parent_id=None)  # on screen: the newest
    store.finish_turn(again, "Dolphins look like they smile.", TurnStatus.OK, None)
    store.close()
    app = make_app(scripted, tmp_path, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        assert [w.text for w in app.query(AssistantMessage)] == ["Dolphins look like they smile."]
        await pilot.press("ctrl+o", *"quokka")
        await until(pilot, lambda: dialog(app).shown_for == "quokka", "the hits")
        await pilot.press("enter")
        chat = app.chat_screen.query_one(ChatLog)
        await until(pilot, lambda: [w for w in chat.query(".found")], "the message found, marked")
        assert [w.text for w in app.query(AssistantMessage)] == ["The quokka seems to smile.", "On Rottnest Island."]
        assert "‹ 1/2 ›" in str(app.query(AssistantMessage).first().footer.render())
    assert [t.id for t in Store(tmp_path / "conversations.sqlite3").turns(cid)] == [first, follow]


async def test_rename_and_delete_in_the_dialog(scripted: ScriptedServer, tmp_path: Path) -> None:
    alpha, beta = store_with(tmp_path, ("alpha talk", [("first", "one")]), ("beta talk", [("second", "two")]))
    app = make_app(scripted, tmp_path, conversation_id=beta)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await until(pilot, lambda: app.chat_screen.session is not None, "the session")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: titles(app) == ["beta talk", "alpha talk"], "the latest conversations")
        assert " f2  rename    f8  delete    esc  close" in screen_text(app)  # the keys as bound

        await pilot.press("down", "f2")  # rename alpha: Esc keeps the old title
        rename = app.screen.query_one("#rename-input")
        assert rename.display and rename.value == "alpha talk" and app.screen.focused is rename
        await pilot.press("x", "escape")
        assert isinstance(app.screen, SearchScreen) and not rename.display and titles(app)[1] == "alpha talk"
        await pilot.press("f2", "ctrl+u", *"Zebra [notes]", "enter")
        assert titles(app) == ["beta talk", "Zebra [notes]"] and "Zebra [notes]" in screen_text(app)
        assert app.chat_screen.store.conversation(alpha).title == "Zebra [notes]"

        await pilot.press("up", "f8")  # delete beta, the open conversation: Enter on the focused Keep keeps it
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert "beta talk" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "back in the dialog")
        assert titles(app) == ["beta talk", "Zebra [notes]"]
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: titles(app) == ["Zebra [notes]"], "the list without it")
        assert any("Deleted “beta talk”" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.chat_screen
        assert app.chat_screen.session.conversation_id is None and not app.query(UserMessage)  # a fresh one
    store = Store(tmp_path / "conversations.sqlite3")
    assert store.conversation(beta) is None and store.turns(beta) == [] and store.search("second") == []
    store.close()


async def test_a_conversation_a_reply_streams_into_is_not_deleted(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(text_reply("a slow answer " * 100, pieces=100, chunk_delay=0.1))  # 10 s, cancelled at the end
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        app.query_one(Composer).load_text("tell me slowly")
        await pilot.press("enter")
        await until(pilot, lambda: app.chat_screen.session.conversation_id is not None, "the turn stored")
        cid = app.chat_screen.session.conversation_id
        await pilot.press("ctrl+o")
        await until(pilot, lambda: titles(app) == ["tell me slowly"], "the conversation listed")
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "back in the dialog")
        assert titles(app) == ["tell me slowly"]
        assert any("a reply is streaming into it" in str(n.message) for n in app._notifications)
        await pilot.press("escape")  # the dialog closes
        assert app.chat_screen.turn_running  # the test took less than the reply: the check above meant something
        await pilot.press("escape")  # the reply is cancelled
        await app.workers.wait_for_complete()
        assert app.chat_screen.store.conversation(cid) is not None


def search(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vt_tui", "search", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_vt_tui_search_prints_hits_text_and_json(tmp_path: Path) -> None:
    older, newer = store_with(
        tmp_path,
        ("walruses", [("Do walruses sing?", "Walruses whistle and knock; a walrus sings underwater.")]),
        ("bells", [("a \x1b[31mred\x1b[0m walrus", "fine")]),
    )
    result = search(tmp_path, "walrus")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "\x1b" not in result.stdout  # a pipe: no escape codes, the model's removed too
    assert lines[0].endswith(f"#{older}  walruses  reply: [Walruses] whistle and knock; a [walrus] sings underwater.")
    assert lines[1].endswith(f"#{newer}  bells  you: a red [walrus]")

    result = search(tmp_path, "--json", "--limit", "1", "walrus")
    assert result.returncode == 0, result.stderr
    [hit] = [json.loads(line) for line in result.stdout.splitlines()]
    assert hit["conversation_id"] == older and hit["side"] == "assistant" and hit["title"] == "walruses"
    assert [hit["snippet"][start:end] for start, end in hit["marks"]] == ["Walruses", "walrus"]
    assert hit["rank"] < 0 and isinstance(hit["turn_id"], int)


def test_vt_tui_search_exit_codes(tmp_path: Path) -> None:
    nothing = search(tmp_path / "none", "walrus")  # no store yet: none is made
    assert nothing.returncode == 0 and nothing.stdout == "" and "No conversations stored yet" in nothing.stderr
    assert not (tmp_path / "none" / "conversations.sqlite3").exists()
    store_with(tmp_path, ("t", [("hello", "hi")]))
    missed = search(tmp_path, "walrus")
    assert missed.returncode == 0 and missed.stdout == "" and "Nothing found for 'walrus'" in missed.stderr
    assert search(tmp_path, "*").returncode == 2
    assert search(tmp_path, "--limit", "0", "hello").returncode == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "conversations.sqlite3").write_text("not a database")
    broken = search(tmp_path / "bad", "hello")
    assert broken.returncode == 1 and broken.stderr.count("\n") == 1, broken.stderr
