"""ChatSession with conversations as trees, against the scripted loopback server: what each request carries is
exactly the branch on screen, through edits, regenerations, flips and forks (real SQLite files)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui.core.attachments import Attachment
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import TurnFailed, TurnFinished, TurnStarted
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Compaction, Store, StoreError


def sent(server: ScriptedServer) -> list[tuple[str, str]]:
    """The messages of the last request, as (role, text)."""
    return [(m["role"], m["content"]) for m in server.chat_requests[-1]["messages"]]


def exchange(*prompts: str) -> list[tuple[str, str]]:
    """What the echo server's history looks like after ``prompts`` (the last one unanswered)."""
    out: list[tuple[str, str]] = []
    for prompt in prompts[:-1]:
        out += [("user", prompt), ("assistant", f"You said: {prompt}")]
    return [*out, ("user", prompts[-1])]


async def finish(events) -> int:
    """Run a turn to its end; its id."""
    out = [event async for event in events]
    assert isinstance(out[-1], TurnFinished), out[-1]
    return next(e.turn_id for e in out if isinstance(e, TurnStarted))


def texts(session: ChatSession) -> list[str]:
    return [t.user_text for t in session.turns]


@pytest.fixture
async def session(scripted: ScriptedServer, tmp_path: Path):
    """A stored session with three turns: a, b, c."""
    store = Store(tmp_path / "c.sqlite3")
    session = ChatSession(Endpoint(scripted.base_url), store=store)
    for prompt in "abc":
        await finish(session.run_turn(prompt))
    yield session
    await session.endpoint.aclose()
    store.close()


def stored_texts(session: ChatSession) -> list[str]:
    """The branch the store remembers (what a restart shows)."""
    assert session.store is not None and session.conversation_id is not None
    return [t.user_text for t in session.store.turns(session.conversation_id)]


async def test_edit_and_resend_sends_the_branch_up_to_the_parent_and_keeps_the_old_one(
    session: ChatSession, scripted: ScriptedServer
) -> None:
    b = session.turns[1]
    edited = await finish(session.edit_and_resend(b.id, "B"))
    assert sent(scripted) == exchange("a", "B")
    assert texts(session) == ["a", "B"] and session.turns[-1].id == edited
    assert session.turns[-1].parent_id == session.turns[0].id
    position = session.position(edited)
    assert str(position) == "2/2" and position.edited and session.positions() == {edited: position}
    assert stored_texts(session) == ["a", "B"]
    await finish(session.run_turn("d"))  # the new branch goes on
    assert sent(scripted) == exchange("a", "B", "d")
    assert session.flip(edited, -1) == b.id
    assert texts(session) == ["a", "b", "c"] and stored_texts(session) == ["a", "b", "c"]
    await finish(session.run_turn("e"))  # after a flip, a new prompt continues the branch flipped to
    assert sent(scripted) == exchange("a", "b", "c", "e")
    assert session.flip(b.id, 1) == edited and texts(session) == ["a", "B", "d"]


async def test_regenerate_sends_the_same_prompt_after_the_same_history(
    session: ChatSession, scripted: ScriptedServer
) -> None:
    c = session.turns[2]
    scripted.queue(text_reply("Another answer."))
    again = await finish(session.regenerate(c.id))
    assert sent(scripted) == exchange("a", "b", "c")
    assert [t.assistant_text for t in session.turns][-1] == "Another answer."
    assert str(session.position(again)) == "2/2" and not session.position(again).edited
    assert session.flip(again, -1) == c.id and session.turns[-1].assistant_text == "You said: c"
    assert session.flip(c.id, -1) is None and session.turns[-1].id == c.id  # the first version: nothing changes
    first = session.turns[0]
    await finish(session.regenerate(first.id))  # a first turn: sent alone
    assert sent(scripted) == exchange("a") and texts(session) == ["a"]
    assert str(session.position(session.turns[0].id)) == "2/2"


async def test_an_edit_that_is_not_sent_leaves_the_branch_as_it_was(
    session: ChatSession, scripted: ScriptedServer
) -> None:
    """An image for an endpoint without vision (so no turn starts): the branch on screen and the store stay."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    before = [t.id for t in session.turns]
    assert session.refuses_images()
    events = [
        e async for e in session.edit_and_resend(before[1], "B", [Attachment.from_bytes("x.png", buffer.getvalue())])
    ]
    assert isinstance(events[-1], TurnFailed) and not any(isinstance(e, TurnStarted) for e in events)
    assert [t.id for t in session.turns] == before and stored_texts(session) == ["a", "b", "c"]


async def test_a_failed_regeneration_is_kept_as_a_version(session: ChatSession, scripted: ScriptedServer) -> None:
    c = session.turns[2]
    scripted.queue(Reply(status=500, body={"error": {"message": "out of memory"}}))
    events = [e async for e in session.regenerate(c.id)]
    assert isinstance(events[-1], TurnFailed)
    assert session.turns[-1].status == "failed" and str(session.position(session.turns[-1].id)) == "2/2"
    await finish(session.regenerate(session.turns[-1].id))  # Ctrl+R on it: a third version, sent as before
    assert sent(scripted) == exchange("a", "b", "c") and str(session.position(session.turns[-1].id)) == "3/3"


async def test_a_restart_resumes_the_branch_last_shown(session: ChatSession, scripted: ScriptedServer) -> None:
    b = session.turns[1]
    edited = await finish(session.edit_and_resend(b.id, "B"))
    session.flip(edited, -1)
    reopened = ChatSession(session.endpoint, store=session.store, conversation_id=session.conversation_id)
    assert texts(reopened) == ["a", "b", "c"] and str(reopened.position(b.id)) == "1/2"
    await finish(reopened.run_turn("d"))
    assert sent(scripted) == exchange("a", "b", "c", "d")


async def test_a_fork_is_a_new_conversation_with_the_branch_up_to_the_turn(
    session: ChatSession, scripted: ScriptedServer
) -> None:
    fork_id = session.fork(session.turns[1].id)
    assert fork_id != session.conversation_id and texts(session) == ["a", "b", "c"]
    fork = ChatSession(session.endpoint, store=session.store, conversation_id=fork_id)
    assert texts(fork) == ["a", "b"] and session.store.conversation(fork_id).title == "a (fork)"
    await finish(fork.run_turn("x"))
    assert sent(scripted) == exchange("a", "b", "x")
    assert stored_texts(session) == ["a", "b", "c"]


async def test_a_session_without_a_store_keeps_its_tree_in_memory(scripted: ScriptedServer) -> None:
    session = ChatSession(Endpoint(scripted.base_url))
    for prompt in "ab":
        await finish(session.run_turn(prompt))
    again = await finish(session.edit_and_resend(session.turns[1].id, "B"))
    assert sent(scripted) == exchange("a", "B") and [t.id for t in session.turns] == [1, again] and again == 3
    assert session.flip(again, -1) == 2 and texts(session) == ["a", "b"]
    with pytest.raises(StoreError, match="Not forked"):
        session.fork(2)
    await session.endpoint.aclose()


async def test_a_summary_of_turns_off_the_branch_is_not_sent(session: ChatSession, scripted: ScriptedServer) -> None:
    """a and b compacted; editing b leaves the summary (which speaks of b) on the old branch."""
    a, b, _ = session.turns
    session.keep_compaction(Compaction(0, (a.id, b.id), "They said a and b.", after_turn_id=b.id))
    await finish(session.run_turn("d"))
    assert "They said a and b." in sent(scripted)[0][1]
    await finish(session.edit_and_resend(b.id, "B"))
    assert all("They said" not in text for _, text in sent(scripted))
    assert sent(scripted)[-1] == ("user", "B")
