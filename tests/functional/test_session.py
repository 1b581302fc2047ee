"""ChatSession against the scripted loopback server: streaming, cancel, every failure, keep-alive, store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.loop_turns import LOOP_TURNS_AT_ONCE, LoopTurns
from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import ErrorKind
from vt_tui.core.events import TextDelta, TurnFailed, TurnFinished, TurnStarted
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store


async def run(session: ChatSession, text: str = "hi") -> list:
    return [event async for event in session.run_turn(text)]


def session_for(server: ScriptedServer, **kw) -> ChatSession:
    return ChatSession(Endpoint(server.base_url, request_timeout=kw.pop("timeout", 5.0)), **kw)


async def test_streams_text_and_finishes_with_stats(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("The capital of France is Paris."))
    events = await run(session_for(scripted))
    assert isinstance(events[0], TurnStarted) and events[0].model == "scripted-model"
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "The capital of France is Paris."
    done = events[-1]
    assert isinstance(done, TurnFinished) and done.text == text
    assert done.stats.tokens == 6 and done.stats.tokens_source == "counted"
    assert done.stats.ttft_s is not None and done.stats.ttft_s <= done.stats.duration_s
    assert done.stats.finish_reason == "stop"


async def test_server_usage_is_preferred_and_said_so(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("a b c", usage={"prompt_tokens": 7, "completion_tokens": 42, "total_tokens": 49}))
    done = (await run(session_for(scripted)))[-1]
    assert done.stats.tokens == 42 and done.stats.tokens_source == "server" and done.stats.prompt_tokens == 7
    assert scripted.chat_requests[0]["stream_options"] == {"include_usage": True}


async def test_request_carries_params_history_and_system(scripted: ScriptedServer) -> None:
    session = session_for(scripted, system="Be brief.", params=GenerationParams(temperature=0.2, max_tokens=77))
    await run(session, "one")
    await run(session, "two")
    body = scripted.chat_requests[1]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 77 and body["stream"] is True
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][2]["content"] == "You said: one"


async def test_three_turns_reuse_one_connection(scripted: ScriptedServer) -> None:
    session = session_for(scripted)
    for n in range(3):
        assert isinstance((await run(session, f"turn {n}"))[-1], TurnFinished)
    assert scripted.connections == 1, "each turn should reuse the kept-alive connection"


async def test_cancel_stops_at_once_and_keeps_partial(scripted: ScriptedServer) -> None:
    """The server goes quiet for 30 s after a few words: a cancel that waited for its next chunk would take that
    long; an immediate one ends the turn within a few event-loop turns (counted, not timed: CI may be busy)."""
    scripted.queue(text_reply(" ".join(f"w{i}" for i in range(200)), pause_at=5, pause_s=30))
    session = session_for(scripted)
    events, turns = [], LoopTurns()
    async for event in session.run_turn("long"):
        events.append(event)
        if isinstance(event, TextDelta) and "w3" in event.text:
            turns.start()
            session.cancel()
    took = turns.stop()
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and failed.cancelled and failed.error.kind is ErrorKind.CANCELLED
    assert failed.partial_text == "w0 w1 w2 w3 " and not any(isinstance(e, TextDelta) for e in events[5:])
    assert took < LOOP_TURNS_AT_ONCE, f"cancel took {took} event-loop turns"
    assert session.turns[-1].status == "cancelled" and session.turns[-1].assistant_text == failed.partial_text
    assert not session.busy


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (Reply(status=401, body={"error": {"message": "Invalid API key."}}), ErrorKind.AUTH, "API key"),
        (Reply(status=403, body={"detail": "Forbidden"}), ErrorKind.AUTH, "Forbidden"),
        (
            Reply(status=404, body={"error": {"message": "model 'x' not found"}}),
            ErrorKind.NOT_FOUND,
            "not found",
        ),
        (Reply(status=429, body={"error": {"message": "slow down"}}), ErrorKind.RATE_LIMIT, "slow down"),
        (Reply(status=500, body="Internal Server Error", close=True), ErrorKind.SERVER, "500"),
        (Reply(status=503, body={"detail": "loading model"}), ErrorKind.SERVER, "loading model"),
        (Reply(status=400, body={"detail": "Only supports u/a/u/a/u..."}), ErrorKind.BAD_REQUEST, "u/a/u"),
        (text_reply("a b c d e f", cut_after=3), ErrorKind.STREAM_CUT, "cut"),
        (text_reply("a b c d e f", malformed_at=2), ErrorKind.MALFORMED, "malformed"),
    ],
)
async def test_failures_are_typed_and_human(scripted: ScriptedServer, reply: Reply, kind: ErrorKind, words: str):
    scripted.queue(reply)
    failed = (await run(session_for(scripted)))[-1]
    assert isinstance(failed, TurnFailed) and not failed.cancelled
    assert failed.error.kind is kind, failed.error
    assert words in str(failed.error)
    assert "Traceback" not in str(failed.error)


async def test_partial_text_kept_when_stream_is_cut(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("one two three four five", cut_after=3))
    failed = (await run(session_for(scripted)))[-1]
    assert failed.partial_text == "one two "


async def test_timeout_before_first_byte(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("late", first_byte_delay=2.0))
    started = time.perf_counter()
    failed = (await run(session_for(scripted, timeout=0.5)))[-1]
    assert failed.error.kind is ErrorKind.TIMEOUT
    assert time.perf_counter() - started < 1.9


async def test_connection_refused_names_url_and_fix() -> None:
    from tests.support.ports import closed_port

    url = f"http://127.0.0.1:{closed_port()}/v1"
    failed = (await run(ChatSession(Endpoint(url), model="m")))[-1]
    assert failed.error.kind is ErrorKind.CONNECTION
    assert url in failed.error.message and "--base-url" in failed.error.hint


async def test_next_turn_works_after_server_dropped_connection(scripted: ScriptedServer) -> None:
    session = session_for(scripted)
    scripted.queue(Reply(status=500, body="boom", close=True))
    assert isinstance((await run(session))[-1], TurnFailed)
    assert isinstance((await run(session, "again"))[-1], TurnFinished)


async def test_failed_turns_are_not_sent_as_history(scripted: ScriptedServer) -> None:
    session = session_for(scripted)
    scripted.queue(Reply(status=503, body={"detail": "busy"}))
    await run(session, "lost")
    await run(session, "kept")
    roles = [m["content"] for m in scripted.chat_requests[-1]["messages"]]
    assert roles == ["kept"]


async def test_model_from_list_and_explicit(scripted: ScriptedServer) -> None:
    scripted.models = ["first", "second"]
    endpoint = Endpoint(scripted.base_url)
    assert await endpoint.list_models() == ["first", "second"]
    await run(ChatSession(endpoint))
    await run(ChatSession(endpoint, model="second"))
    assert [b["model"] for b in scripted.chat_requests] == ["first", "second"]


async def test_store_has_text_while_streaming_and_after(scripted: ScriptedServer, tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    scripted.queue(text_reply(" ".join(["tok"] * 30), chunk_delay=0.05))
    session = session_for(scripted, store=store)
    seen_mid_stream = ""
    async for event in session.run_turn("q"):
        if isinstance(event, TextDelta):
            await asyncio.sleep(0)
            other = Store(tmp_path / "c.sqlite3")  # a second reader, as after a crash
            turns = other.turns(session.conversation_id)
            seen_mid_stream = turns[0].assistant_text or seen_mid_stream
            other.close()
    assert seen_mid_stream.startswith("tok tok"), "text should reach the database during the stream"
    turn = store.turns(session.conversation_id)[0]
    assert turn.status == "ok" and turn.assistant_text.count("tok") == 30 and turn.stats["tokens"] == 30
    assert oct((tmp_path / "c.sqlite3").stat().st_mode & 0o777) == "0o600"
