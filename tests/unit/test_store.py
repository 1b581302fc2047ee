"""The conversation store: a file written by an older vt-tui opens, resumes and exports (real SQLite files)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.core import export
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import TurnFinished
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A copy of the store written before versioning (tests/fixtures/make_store_v0.py says what it holds)."""
    path = tmp_path / "data" / "conversations.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(FIXTURES / "store-v0.sqlite3", path)
    return path


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
