"""Conversations as trees in the store (migration 5), tested on a file the released code wrote at schema 3
(tests/fixtures/make_store_v3.py says what it holds): it opens as one branch per conversation, resumes on it,
exports it, and then takes versions, flips and forks."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.core import export
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import TurnFinished
from vt_tui.core.session import ChatSession
from vt_tui.core.store import MIGRATIONS, CompactionStatus, Store, schema_version

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def v3_file(tmp_path: Path) -> Path:
    path = tmp_path / "conversations.sqlite3"
    shutil.copyfile(FIXTURES / "store-v3.sqlite3", path)
    assert schema_version(path) == 3
    return path


def columns(path: Path, table: str) -> dict[str, tuple]:
    with sqlite3.connect(path) as db:
        return {row[1]: row for row in db.execute(f"PRAGMA table_info({table})")}


def test_a_schema_3_file_becomes_one_branch_per_conversation(v3_file: Path) -> None:
    store = Store(v3_file)
    assert schema_version(v3_file) == len(MIGRATIONS) >= 4
    assert "parent_id" in columns(v3_file, "turns") and "current_turn_id" in columns(v3_file, "conversations")
    rows = store.db.execute("SELECT id, conversation_id, parent_id FROM turns ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(1, 1, None), (2, 1, 1), (3, 1, 2), (4, 1, 3), (5, 2, None), (6, 2, 5)]
    current = store.db.execute("SELECT id, current_turn_id FROM conversations ORDER BY id").fetchall()
    assert [tuple(r) for r in current] == [(1, 4), (2, 6)]
    turns = store.turns(1)
    assert [(t.user_text, t.in_context, t.parent_id) for t in turns] == [
        ("What is 2+2?", False, None),
        ("What is 6*7?", False, 1),
        ("What is in this picture?", True, 2),
        ("Thanks.", True, 3),
    ]
    assert (turns[0].thinking, turns[0].assistant_text) == ("Two and two.", "Four.")
    (image,) = turns[2].attachments
    assert image.name == "blue.png" and base64.b64decode(image.b64).startswith(b"\x89PNG")
    [compaction] = store.compactions(1)
    assert compaction.turn_ids == (1, 2) and compaction.status is CompactionStatus.ACTIVE
    assert [t.status for t in store.turns(2)] == ["ok", "failed"]
    store.close()


async def test_a_schema_3_conversation_resumes_on_its_branch(v3_file: Path, scripted: ScriptedServer) -> None:
    store = Store(v3_file)
    endpoint = Endpoint(scripted.base_url, engine="openai")
    session = ChatSession(endpoint, store=store, conversation_id=1)
    scripted.queue(text_reply("Welcome back."))
    events = [event async for event in session.run_turn("Still there?")]
    assert isinstance(events[-1], TurnFinished)
    sent = scripted.chat_requests[-1]["messages"]
    assert "They asked 2+2 (four) and 6*7 (42)." in sent[0]["content"]  # the summary stands for turns 1 and 2
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert sent[1]["content"][0]["text"] == "What is in this picture?" and sent[-1]["content"] == "Still there?"
    await endpoint.aclose()
    store.close()
    reopened = Store(v3_file)
    assert [(t.user_text, t.parent_id) for t in reopened.turns(1)][-1] == ("Still there?", 4)
    reopened.close()


def test_a_schema_3_conversation_exports(v3_file: Path) -> None:
    store = Store(v3_file)
    info, tree = store.conversation(1), store.tree(1)
    markdown = export.to_markdown(info, tree.branch())
    assert markdown.startswith("# What is 2+2?") and "## Assistant (scripted-model)\n\n<details>" in markdown
    assert "Two and two." in markdown and "## Branch" not in markdown
    data = json.loads(export.to_json(info, tree.branch(), store.tool_calls(1)))
    assert [t["parent_id"] for t in data["turns"]] == [None, 1, 2, 3] and "branches" not in data
    assert data["tool_calls"][0]["name"] == "calculator"
    assert data["turns"][2]["attachments"][0]["mime"] == "image/png"
    every = json.loads(export.to_json(info, tree.branch(), store.tool_calls(1), tree.branches()))
    assert every["branches"] == [[1, 2, 3, 4]] and every["on_screen"] == [1, 2, 3, 4]
    store.close()


def test_new_versions_flips_and_every_branch_are_stored(v3_file: Path) -> None:
    """A regenerated turn is a sibling; the leaf on screen is remembered; every branch exports."""
    store = Store(v3_file)
    again = store.add_turn(1, "What is in this picture?", "m", {}, parent_id=2)
    store.finish_turn(again, "Still blue.", "ok", None)
    assert [t.id for t in store.turns(1)] == [1, 2, again]
    tree = store.tree(1)
    assert tree.position(again).index == 2 and tree.position(again).count == 2
    assert tree.flip(again, -1) == 3
    store.set_current_turn(1, tree.leaf())
    assert [t.id for t in Store(v3_file).turns(1)] == [1, 2, 3, 4]
    info = store.conversation(1)
    tree = store.tree(1)
    markdown = export.to_markdown(info, tree.branch(), tree.branches())
    assert "## Branch 1 of 2 (on screen)\n\n### You\n\nWhat is 2+2?" in markdown
    assert "## Branch 2 of 2\n\n" in markdown and "Still blue." in markdown
    data = json.loads(export.to_json(info, tree.branch(), store.tool_calls(1), tree.branches()))
    assert data["branches"] == [[1, 2, 3, 4], [1, 2, again]] and data["on_screen"] == [1, 2, 3, 4]
    assert [t["id"] for t in data["turns"]] == [1, 2, 3, 4, again]
    store.close()


def test_a_fork_copies_the_branch_up_to_a_turn(v3_file: Path) -> None:
    store = Store(v3_file)
    fork = store.fork(1, 3)
    info = store.conversation(fork)
    before = store.conversation(1)
    assert info.title == "What is 2+2? (fork)" and (info.model, info.endpoint) == (before.model, before.endpoint)
    assert store.last_conversation_id() == fork
    original, copied = store.turns(1)[:3], store.turns(fork)
    assert [(t.user_text, t.assistant_text, t.thinking, t.in_context, t.status) for t in copied] == [
        (t.user_text, t.assistant_text, t.thinking, t.in_context, t.status) for t in original
    ]
    assert {t.id for t in copied}.isdisjoint(t.id for t in original)
    assert [t.parent_id for t in copied] == [None, copied[0].id, copied[1].id]
    assert copied[2].attachments[0].b64 == original[2].attachments[0].b64
    [call] = store.tool_calls(fork)
    assert (call["turn_id"], call["name"], call["result"]) == (copied[1].id, "calculator", "42")
    [summary] = store.compactions(fork)  # turns 1 and 2 lie on the fork: their summary comes along
    assert summary.turn_ids == (copied[0].id, copied[1].id) and summary.after_turn_id == copied[2].id
    assert len(store.turns(1)) == 4  # the original is untouched
    store.close()


def test_a_fork_before_the_end_of_a_compaction_sends_its_turns_again(v3_file: Path) -> None:
    store = Store(v3_file)
    fork = store.fork(1, 1)  # the compaction covers turns 1 and 2: it stays behind
    assert store.compactions(fork) == []
    assert [(t.user_text, t.in_context) for t in store.turns(fork)] == [("What is 2+2?", True)]
    store.close()


def test_a_turn_added_without_a_parent_continues_the_branch_on_screen(v3_file: Path) -> None:
    store = Store(v3_file)
    again = store.add_turn(1, "What is in this picture?", "m", {}, parent_id=2)
    after = store.add_turn(1, "And now?", "m", {})
    assert [t.id for t in store.turns(1)] == [1, 2, again, after]
    first = store.add_turn(1, "Start over.", "m", {}, parent_id=None)  # another version of the first turn
    assert [t.id for t in store.turns(1)] == [first] and store.tree(1).siblings(first) == [1, first]
    store.close()


def test_the_conversation_list_counts_the_turns_of_the_branch_on_screen(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    cid = store.create_conversation(title="versions", model="m")
    first = store.add_turn(cid, "a", "m", {})
    store.add_turn(cid, "b", "m", {})
    store.add_turn(cid, "b again", "m", {}, parent_id=first)  # another version of the second turn
    store.add_turn(cid, "c", "m", {})
    (info,) = store.list_conversations()
    assert info.turn_count == 3 == len(store.turns(cid))
    store.set_current_turn(cid, 2)
    assert store.conversation(cid).turn_count == 2 == len(store.turns(cid))
    empty = store.create_conversation(title="empty", model="m")
    assert store.conversation(empty).turn_count == 0
