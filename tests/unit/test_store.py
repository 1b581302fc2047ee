"""The conversation store: versions and migrations, and a file written before versions opening, resuming and
exporting after every migration (real SQLite files)."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.core import export
from vt_tui.core import store as store_module
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import TurnFinished
from vt_tui.core.session import ChatSession
from vt_tui.core.store import MIGRATIONS, Store, StoreError, schema_version

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# What a later issue's step looks like (reasoning text kept with each turn): the fixture must survive it too.
NEXT_STEP = "ALTER TABLE turns ADD COLUMN reasoning TEXT NOT NULL DEFAULT '';"


@pytest.fixture(params=["today", "one step more"])
def old_file(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the store written before versions (tests/fixtures/make_store_v0.py says what it holds), opened
    with today's migrations and with one more step."""
    if request.param == "one step more":
        monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, NEXT_STEP))
    path = tmp_path / "data" / "conversations.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(FIXTURES / "store-v0.sqlite3", path)
    assert schema_version(path) == 0
    return path


def schema(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    finally:
        db.close()


def test_old_file_is_migrated_to_the_schema_a_new_file_gets(old_file: Path, tmp_path: Path) -> None:
    Store(old_file).close()
    Store(tmp_path / "new.sqlite3").close()
    assert schema_version(old_file) == schema_version(tmp_path / "new.sqlite3") == len(store_module.MIGRATIONS)
    assert schema(old_file) == schema(tmp_path / "new.sqlite3")
    Store(old_file).close()  # opening it again changes nothing
    assert schema_version(old_file) == len(store_module.MIGRATIONS)


def test_a_file_from_a_newer_vt_tui_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match=rf"written by a newer vt-tui \(schema {len(MIGRATIONS) + 1};") as refused:
        Store(path)
    assert "--data-dir" in refused.value.hint and schema_version(path) == len(MIGRATIONS) + 1


def test_a_failing_step_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.sqlite3"
    Store(path).close()
    broken = "CREATE TABLE half_done (a);\nINSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(StoreError, match=r"upgrading the schema failed .*no such table: no_such_table"):
        Store(path)
    assert schema_version(path) == len(MIGRATIONS) and "half_done" not in dict(schema(path))


def test_old_file_opens_with_everything_in_it(old_file: Path) -> None:
    store = Store(old_file)
    assert [(c.id, c.title, c.turn_count, c.persona) for c in store.list_conversations()] == [
        (2, "Write add().", 1, "coder"),
        (1, "What is 6*7?", 4, None),
    ]
    assert store.conversation(2).system == "Answer in one line."
    turns = store.turns(1)
    assert [(t.user_text, t.status, t.in_context) for t in turns] == [
        ("What is 6*7?", "ok", False),
        ("What is in this picture?", "ok", False),
        ("This one fails.", "failed", True),
        ("Hello?", "ok", True),
    ]
    assert turns[0].assistant_text == "It is 42." and turns[0].stats["tool_calls"] == 1
    assert "out of memory" in turns[2].error
    (image,) = turns[1].attachments
    assert (image.name, image.mime, image.width, image.height) == ("red.png", "image/png", 4, 4)
    assert base64.b64decode(image.b64).startswith(b"\x89PNG")
    calls = store.tool_calls(1)
    assert [(c["call_id"], c["name"], c["args"], c["status"], c["result"]) for c in calls] == [
        ("call_1", "calculator", {"expression": "6*7"}, "ok", "42")
    ]
    store.close()


async def test_old_conversation_resumes(old_file: Path, scripted: ScriptedServer) -> None:
    store = Store(old_file)
    endpoint = Endpoint(scripted.base_url, engine="openai")
    session = ChatSession(endpoint, store=store, conversation_id=1)
    assert len(session.turns) == 4 and session.turns[1].attachments[0].name == "red.png"
    scripted.queue(text_reply("Welcome back."))
    events = [event async for event in session.run_turn("Still there?")]
    assert isinstance(events[-1], TurnFinished)
    sent = scripted.chat_requests[-1]["messages"]
    # cleared turns and the failed one are not sent again: only "Hello?" and its answer, then the new prompt
    assert sent == [
        {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": "Hello again."},
        {"role": "user", "content": "Still there?"},
    ]
    await endpoint.aclose()
    store.close()
    reopened = Store(old_file)
    assert [t.assistant_text for t in reopened.turns(1)][-1] == "Welcome back."
    assert len(reopened.tool_calls(1)) == 1
    reopened.close()


def test_old_conversation_exports(old_file: Path) -> None:
    store = Store(old_file)
    info, turns = store.conversation(1), store.turns(1)
    markdown = export.to_markdown(info, turns)
    assert markdown.startswith("# What is 6*7?") and "## Assistant (scripted-model)\n\nIt is 42." in markdown
    assert "> **failed**: Server error 500" in markdown
    data = json.loads(export.to_json(info, turns, store.tool_calls(1)))
    assert data["conversation"]["title"] == "What is 6*7?" and len(data["turns"]) == 4
    assert data["turns"][1]["attachments"][0]["mime"] == "image/png"
    assert data["tool_calls"][0]["name"] == "calculator" and data["tool_calls"][0]["args"] == {"expression": "6*7"}
    store.close()


def test_a_file_that_cannot_be_opened_gives_a_store_in_memory_and_the_reason(tmp_path: Path) -> None:
    from vt_tui.core.store import MEMORY, open_store

    newer = tmp_path / "newer.sqlite3"
    Store(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    not_a_database = tmp_path / "garbage.sqlite3"
    not_a_database.write_bytes(b"this is not SQLite" * 100)
    blocked = tmp_path / "a-file" / "conversations.sqlite3"  # its folder would have to be where a file is
    blocked.parent.write_text("")
    reasons = {}
    for path in (newer, not_a_database, blocked):
        store, reasons[path] = open_store(path)
        assert store.path == MEMORY
        conversation = store.create_conversation(title="kept in memory")
        store.add_turn(conversation, "hello", "m", {})
        assert [t.user_text for t in store.turns(conversation)] == ["hello"]
        store.close()
    assert "was written by a newer vt-tui" in reasons[newer] and "--data-dir" in reasons[newer]
    assert str(not_a_database) in reasons[not_a_database] and "not a database" in reasons[not_a_database]
    assert str(blocked.parent) in reasons[blocked] or str(blocked) in reasons[blocked]
    with sqlite3.connect(newer) as db:  # left as it was
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    store, reason = open_store(tmp_path / "fine.sqlite3")
    assert reason is None and store.path == tmp_path / "fine.sqlite3"


def test_a_compaction_takes_its_turns_out_of_context_and_undoing_it_brings_them_back(old_file: Path) -> None:
    """Migration 3 on the file from before versions: its turns can be compacted, the summary folded into a later
    one, and both undone, every change in one transaction."""
    from vt_tui.core.store import Compaction, CompactionStatus

    store = Store(old_file)
    cid = max(store.list_conversations(), key=lambda c: c.turn_count).id
    ids = [t.id for t in store.turns(cid)]
    assert len(ids) >= 2
    first = Compaction(0, tuple(ids[:1]), "They said hello.", after_turn_id=ids[-1], tokens_before=40, tokens_after=5)
    first.id = store.add_compaction(cid, first)
    assert [t.in_context for t in store.turns(cid)][:1] == [False]
    later = Compaction(0, tuple(ids[1:2]), "Hello, then a joke.", after_turn_id=ids[-1], folds=first.id)
    later.id = store.add_compaction(cid, later)
    assert [(c.summary, c.status) for c in store.compactions(cid)] == [
        ("They said hello.", CompactionStatus.FOLDED),
        ("Hello, then a joke.", CompactionStatus.ACTIVE),
    ]
    store.undo_compaction(later)
    assert [c.status for c in store.compactions(cid)] == [CompactionStatus.ACTIVE, CompactionStatus.UNDONE]
    assert [t.in_context for t in store.turns(cid)][:2] == [False, True]  # the first summary still stands for turn 1
    store.clear_context(cid)
    assert store.compactions(cid)[0].status is CompactionStatus.CLEARED
    store.close()


async def test_think_blocks_stored_as_answers_move_to_their_own_column(
    old_file: Path, scripted: ScriptedServer
) -> None:
    """Before thinking had a column, a leading <think> block was stored (and sent back) as part of the answer: the
    step that adds the column moves it there, as the live splitter would have split it."""
    with sqlite3.connect(old_file) as db:
        rows = [
            ("Think first.", "<think>\nWeighing it.\n</think>\n\nDone. Tags like <think> stay.", "ok"),
            ("Cut off?", "  <think>ran out of tokens", "ok"),
            ("Plain.", "No block here.", "ok"),
        ]
        db.executemany(
            "INSERT INTO turns(conversation_id, user_text, assistant_text, status, created) VALUES (2, ?, ?, ?, 0)",
            rows,
        )
    store = Store(old_file)
    turns = store.turns(2)[-3:]
    assert [(t.thinking, t.assistant_text) for t in turns] == [
        ("\nWeighing it.\n", "Done. Tags like <think> stay."),
        ("ran out of tokens", ""),
        ("", "No block here."),
    ]
    endpoint = Endpoint(scripted.base_url, engine="openai")
    session = ChatSession(endpoint, store=store, conversation_id=2)
    scripted.queue(text_reply("Fine."))
    events = [event async for event in session.run_turn("And now?")]
    assert isinstance(events[-1], TurnFinished)
    sent = json.dumps(scripted.chat_requests[-1]["messages"])
    assert "Weighing" not in sent and "ran out of tokens" not in sent and "Done. Tags like <think> stay." in sent
    await endpoint.aclose()
    store.close()


def test_opening_waits_while_another_program_holds_the_file_locked(tmp_path: Path) -> None:
    """A second vt-tui opening the file while another holds it (vt-tui web's tabs start together) waits for it
    instead of keeping its conversation in memory only."""
    import threading

    path = tmp_path / "c.sqlite3"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # every other connection now meets "database is locked"
    threading.Timer(6.0, lambda: (holder.execute("COMMIT"), holder.execute("PRAGMA locking_mode=NORMAL"),
                                  holder.execute("SELECT 1"), holder.close())).start()  # fmt: skip
    store = Store(path)  # past SQLite's own 5 s wait
    assert store.turns(store.create_conversation(title="after the lock")) == []
    store.close()
