"""The context window against the scripted server playing each engine (tests/support/engine_windows.py): the limit
read where the engine says it, max_tokens capped, a message over the window not sent, every engine's own overflow
said the same way, Ollama's silent cut seen, and the truncate and compact strategies, stored and undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine_windows import TEMPLATE, play, prompt_tokens
from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui.core.context import ContextLimit, ContextStrategy
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import ErrorKind
from vt_tui.core.events import (
    CompactionFailed,
    CompactionFinished,
    CompactionStarted,
    ContextTrimmed,
    ContextTruncated,
    SummaryDelta,
    TurnFailed,
    TurnFinished,
    TurnStarted,
)
from vt_tui.core.params import GenerationParams
from vt_tui.core.profiles import Thinking
from vt_tui.core.session import ChatSession
from vt_tui.core.store import CompactionStatus, Store
from vt_tui.core.window import MIN_REPLY_TOKENS

LONG = "word " * 400  # 400 tokens for the scripted tokenizer
SOURCES = {
    "vllm": "max_model_len of m in /v1/models",
    "sglang": "max_model_len of m in /v1/models",
    "llama-server": "n_ctx in llama-server's /props",
    "ollama": "the num_ctx Ollama runs m with (/api/ps)",
}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(models=["m"]) as running:
        yield running


def session_on(server: ScriptedServer, **kw) -> ChatSession:
    params = kw.pop("params", GenerationParams(max_tokens=1024))
    return ChatSession(Endpoint(server.base_url, request_timeout=5.0), params=params, **kw)


async def run(session: ChatSession, text: str) -> list:
    return [event async for event in session.run_turn(text)]


def tokenized(server: ScriptedServer) -> int:
    return sum(1 for r in server.requests if "tokenize" in r["path"])


@pytest.mark.parametrize("engine", SOURCES)
async def test_the_limit_is_read_where_the_engine_says_it_and_max_tokens_fits_it(
    server: ScriptedServer, engine: str
) -> None:
    """The issue's vLLM with max_model_len 1,024: "short question" was refused because vt-tui asked for 1,024
    tokens on top of the prompt. Every scripted engine refuses (or cuts) exactly as the real one does."""
    play(server, engine, 1024)
    session = session_on(server)
    events = await run(session, "short question")
    assert isinstance(events[-1], TurnFinished), events[-1]
    sent = server.chat_requests[-1]
    assert prompt_tokens(sent) + sent["max_tokens"] <= 1024 < 1024 + prompt_tokens(sent)  # capped, not refused
    usage = session.context_usage()
    assert (usage.limit, session.context.limit.source) == (1024, SOURCES[engine])
    assert usage.exact and usage.tokens == prompt_tokens(sent) + 2 + 2  # the server's count: prompt + "You said: …"
    await session.endpoint.aclose()


def think_then_answer(server: ScriptedServer, thought: list[str], answer: str, counted_by: str) -> None:
    """Queue a reasoning model's reply: ``thought`` in pieces, then ``answer``. Its completion_tokens count both (a
    token per piece of thought, per word of answer); its reasoning_tokens say the thinking's share only when
    ``counted_by`` is the server."""

    def usage(body: dict, reply: Reply) -> dict:
        said = {"prompt_tokens": prompt_tokens(body), "completion_tokens": len(thought) + len(answer.split())}
        if counted_by == "server":
            said["completion_tokens_details"] = {"reasoning_tokens": len(thought)}
        return said

    server.usage_for = usage
    server.queue(Reply(chunks=[*({"reasoning": piece} for piece in thought), {"content": answer}]))


@pytest.mark.parametrize("counted_by", ["server", "stream"])
async def test_a_replys_thinking_is_left_out_of_the_history_it_is_not_sent_with(
    server: ScriptedServer, counted_by: str
) -> None:
    """A reasoning model's completion_tokens include its thinking, which the next request does not carry (no engine
    vt-tui knows reads it back): the history's count leaves it out, with the server's reasoning_tokens or, when it
    gives none, the thinking counted as it streamed (a token per piece)."""
    play(server, "vllm", 4096)
    think_then_answer(server, ["Let me", " think", " about", " this", " carefully."], "Yes.", counted_by)
    session = session_on(server)
    events = await run(session, "short question")
    assert isinstance(events[-1], TurnFinished) and events[-1].stats.thinking_tokens == 5
    usage_now = session.context_usage()
    assert usage_now.exact and usage_now.tokens == prompt_tokens(server.chat_requests[-1]) + 1  # "Yes." alone
    await session.endpoint.aclose()


async def test_far_from_the_limit_nothing_is_asked_before_sending(server: ScriptedServer) -> None:
    play(server, "vllm", 32768)
    session = session_on(server)
    for text in ("hello", "and again"):
        assert isinstance((await run(session, text))[-1], TurnFinished)
    assert tokenized(server) == 0 and server.chat_requests[-1]["max_tokens"] == 1024
    await session.endpoint.aclose()


@pytest.mark.parametrize("engine", ["vllm", "sglang", "llama-server", "ollama"])
async def test_a_message_over_the_window_is_not_sent_and_says_by_how_much(
    server: ScriptedServer, engine: str, tmp_path: Path
) -> None:
    play(server, engine, 300)
    store = Store(tmp_path / "c.sqlite3")
    session = session_on(server, store=store)
    await run(session, "short question")
    before = len(server.chat_requests)
    events = await run(session, LONG)
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and not any(isinstance(e, TurnStarted) for e in events)
    assert failed.error.kind is ErrorKind.CONTEXT_OVERFLOW and len(server.chat_requests) == before
    overflow = failed.error.overflow
    assert overflow.limit == 300 and overflow.over_by == overflow.size + MIN_REPLY_TOKENS - 300 > 0
    if engine != "ollama":  # counted by the server's tokenizer: the 400 words, their template, the history
        assert overflow.size == 400 + 2 * TEMPLATE + session.context_usage().tokens and overflow.margin == 0
        assert f"{overflow.size:,} tokens for a 300-token window ({overflow.over_by:,} over" in failed.error.message
    else:  # no tokenizer: an estimate, said as one
        assert overflow.margin > 0 and "about" in failed.error.message
    assert "retry" not in failed.error.hint.replace("retrying cannot fit", "")
    assert [t.user_text for t in store.turns(session.conversation_id)] == ["short question"]  # nothing stored
    await session.endpoint.aclose()
    store.close()


@pytest.mark.parametrize("engine", ["vllm", "sglang", "llama-server", "llama-cpp-python"])
async def test_every_engines_own_refusal_is_said_the_same_way(server: ScriptedServer, engine: str) -> None:
    """When vt-tui's figure is wrong (here: a stale answer of the server's), the server's own overflow error becomes
    the same one line, and the limit the server stated is kept for the next turn."""
    play(server, engine, 300)
    session = session_on(server, params=GenerationParams(max_tokens=32))
    session.endpoint.context_limits["m"] = ContextLimit(100_000, "a stale answer")
    failed = (await run(session, LONG))[-1]
    assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert failed.error.status == 400 and failed.error.overflow.limit == 300
    assert failed.error.message.startswith("Too long for the model's context window: ")
    assert "for a 300-token window" in failed.error.message and "retry" not in failed.error.hint.split("(")[0]
    assert session.context.limit == ContextLimit(300, "the server's own overflow error")
    await session.endpoint.aclose()


async def test_lmdeploys_empty_reply_for_length_is_an_overflow(server: ScriptedServer) -> None:
    play(server, "lmdeploy", 300)
    session = session_on(server, params=GenerationParams(max_tokens=32))
    failed = (await run(session, LONG))[-1]
    assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert failed.error.message.endswith("(the server stopped before any text)")
    await session.endpoint.aclose()


async def test_ollamas_silent_cut_is_seen_from_prompt_tokens(server: ScriptedServer) -> None:
    play(server, "ollama", 300)
    session = session_on(server, params=GenerationParams(max_tokens=32))
    session.endpoint.context_window = ContextLimit(100_000, "a wrong setting")
    events = await run(session, LONG)
    cut = next(e for e in events if isinstance(e, ContextTruncated))
    assert isinstance(events[-1], TurnFinished) and cut.prompt_tokens == 300 and cut.sent_tokens > 400
    assert "Ollama read 300 of the ~" in cut.message and "without saying so" in cut.message
    await session.endpoint.aclose()


async def fill(session: ChatSession, turns: int) -> None:
    for n in range(turns):
        assert isinstance((await run(session, f"question {n} " + "padding " * 60))[-1], TurnFinished)


async def stored_session(server: ScriptedServer, data: Path, limit: int, turns: int, **kw) -> tuple[ChatSession, Store]:
    """A session on the scripted vLLM with a ``limit``-token window, stored, ``turns`` padded exchanges in."""
    play(server, "vllm", limit)
    store = Store(data / "c.sqlite3")
    session = session_on(server, store=store, **kw)
    await fill(session, turns)
    return session, store


async def test_truncate_drops_the_oldest_turns_keeps_them_stored_and_sends(server: ScriptedServer, tmp_path: Path):
    session, store = await stored_session(server, tmp_path, 600, 4, context_strategy=ContextStrategy.TRUNCATE)
    events = await run(session, "word " * 200)
    trimmed = next(e for e in events if isinstance(e, ContextTrimmed))
    assert isinstance(events[-1], TurnFinished) and trimmed.turn_ids[0] == session.turns[0].id
    sent = server.chat_requests[-1]["messages"]
    assert not any("question 0" in str(m["content"]) for m in sent)  # the oldest is no longer sent
    assert prompt_tokens(server.chat_requests[-1]) + server.chat_requests[-1]["max_tokens"] <= 600
    stored = {t.id: t.in_context for t in store.turns(session.conversation_id)}
    assert all(not stored[i] for i in trimmed.turn_ids) and len(stored) == 5  # kept, out of context
    await session.endpoint.aclose()
    store.close()


async def test_compact_summarises_sends_the_summary_in_their_place_and_undoes(server: ScriptedServer, tmp_path: Path):
    session, store = await stored_session(server, tmp_path, 600, 4, context_strategy=ContextStrategy.COMPACT)
    server.queue(text_reply("They asked four padded questions, numbered 0 to 3."))
    events = await run(session, "word " * 200)
    kinds = [type(e) for e in events]
    assert kinds.index(CompactionStarted) < kinds.index(SummaryDelta) < kinds.index(CompactionFinished)
    assert kinds.index(CompactionFinished) < kinds.index(TurnStarted) and isinstance(events[-1], TurnFinished)
    done = next(e for e in events if isinstance(e, CompactionFinished))
    summary_request, turn_request = server.chat_requests[-2], server.chat_requests[-1]
    assert "question 0" in summary_request["messages"][-1]["content"]  # the model was shown the turns
    assert summary_request["max_tokens"] <= 600 // 4
    system = turn_request["messages"][0]
    assert system["role"] == "system" and "numbered 0 to 3" in system["content"]
    assert not any("question 0" in str(m["content"]) for m in turn_request["messages"][1:])
    [stored] = store.compactions(session.conversation_id)
    assert (stored.id, stored.turn_ids, stored.status) == (done.compaction_id, done.turn_ids, CompactionStatus.ACTIVE)

    undone = session.undo_compaction()
    assert undone is not None and {t.id for t in session.turns if t.counts_as_history} >= set(done.turn_ids)
    assert store.compactions(session.conversation_id)[0].status is CompactionStatus.UNDONE
    assert "numbered 0 to 3" not in str(session.request_for({"role": "user", "content": "x"}))
    await session.endpoint.aclose()
    store.close()


async def test_compaction_can_be_cancelled_and_changes_nothing(server: ScriptedServer, tmp_path: Path) -> None:
    session, store = await stored_session(server, tmp_path, 4096, 3)
    server.queue(text_reply("a summary " * 50, chunk_delay=0.05))
    events = []
    async for event in session.compact():
        events.append(event)
        if isinstance(event, SummaryDelta):
            session.cancel()
    failed = events[-1]
    assert isinstance(failed, CompactionFailed) and failed.cancelled and failed.partial_text
    assert store.compactions(session.conversation_id) == [] and all(t.in_context for t in session.turns)
    await session.endpoint.aclose()
    store.close()


async def test_a_compaction_survives_reopening_the_conversation(server: ScriptedServer, tmp_path: Path) -> None:
    session, store = await stored_session(server, tmp_path, 4096, 3)
    server.queue(text_reply("Three padded questions."))
    assert isinstance([e async for e in session.compact()][-1], CompactionFinished)
    reopened = ChatSession(session.endpoint, store=store, conversation_id=session.conversation_id)
    assert reopened.context.compaction().summary == "Three padded questions."
    request = reopened.request_for({"role": "user", "content": "go on"})
    assert "Three padded questions." in request[0]["content"] and len(request) == 1 + 2 + 1  # the last turn kept
    await session.endpoint.aclose()
    store.close()


@pytest.mark.parametrize("counted_by", ["server", "stream"])
async def test_a_thinking_model_compacts_with_the_conversations_thinking_setting(
    server: ScriptedServer, tmp_path: Path, counted_by: str
) -> None:
    """The summary is asked for with the conversation's thinking setting (off here, as for its turns); what the model
    thought anyway stays out of the summary and out of its size (completion_tokens count the thinking too)."""
    params = GenerationParams(max_tokens=1024, thinking=Thinking.OFF)
    session, store = await stored_session(server, tmp_path, 4096, 3, params=params)
    think_then_answer(server, ["Three questions,", " all padded;", " say so."], "Three padded questions.", counted_by)
    done = [e async for e in session.compact()][-1]
    assert isinstance(done, CompactionFinished), done
    assert (done.summary, done.tokens_after) == ("Three padded questions.", 3)
    assert server.chat_requests[-1]["chat_template_kwargs"] == {"enable_thinking": False}
    await session.endpoint.aclose()
    store.close()


async def test_after_a_reconnect_the_window_is_asked_again(tmp_path: Path) -> None:
    """The server restarted with another window (vLLM's --max-model-len, llama.cpp's -c): once the lifecycle has
    connected again, the next turn asks for the window instead of fitting to the old one."""
    from tests.support.ports import closed_port
    from vt_tui.core.lifecycle import Lifecycle

    port = closed_port()  # free now: the first server takes it, the restarted one takes it again
    with ScriptedServer(models=["m"], port=port) as first:
        play(first, "vllm", 1024)
        session = ChatSession(Endpoint(first.base_url, request_timeout=5.0), params=GenerationParams(max_tokens=900))
        assert isinstance((await run(session, "short question"))[-1], TurnFinished)
        assert session.context_usage().limit == 1024
        first.kill()  # as a restart does: its kept-alive connections close too
    with ScriptedServer(models=["m"], port=port) as second:  # restarted on the same port, a bigger window
        play(second, "vllm", 4096)
        await Lifecycle(session.endpoint).connect()
        assert isinstance((await run(session, "short question"))[-1], TurnFinished)
        assert session.context_usage().limit == 4096
        assert second.chat_requests[-1]["max_tokens"] == 900  # no longer capped to the old window
    await session.endpoint.aclose()
