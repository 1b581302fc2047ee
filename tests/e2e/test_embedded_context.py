"""The context window on the real embedded server (llama-cpp-python on SmolLM2-135M) started with n_ctx 512: a reply
capped to what is left, a message over the window not sent (counted by the server's own tokenizer), the server's
own cut stream read from its log, truncate and compact end to end, and `vt-tui ask`'s exit code."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vt_tui.core.context import ContextLimit, ContextStrategy
from vt_tui.core.errors import ErrorKind
from vt_tui.core.events import (
    CompactionFinished,
    CompactionStarted,
    ContextTrimmed,
    SummaryDelta,
    TurnFailed,
    TurnFinished,
)
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession
from vt_tui.engines.connect import embedded_endpoint, embedded_server
from vt_tui.engines.embedded import EmbeddedServer
from vt_tui.headless import ExitCode
from vt_tui.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
N_CTX = 512
PASTE = "The quick brown fox jumps over the lazy dog. " * 900  # ~40 KB: the paste
SETTINGS = Settings(n_ctx=N_CTX, threads=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One llama.cpp server with a 512-token window for the module (each test makes its own endpoint)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    running = embedded_server(SETTINGS)
    running.log_path = tmp_path_factory.mktemp("embedded") / "server.log"
    running.start()
    try:
        asyncio.run(running.wait_ready(120))
        yield running
    finally:
        running.stop()


def session_on(server: EmbeddedServer, **kw) -> ChatSession:
    params = GenerationParams(temperature=0, max_tokens=kw.pop("max_tokens", 48))
    return ChatSession(embedded_endpoint(server, SETTINGS), params=params, **kw)


async def run(session: ChatSession, text: str) -> list:
    return [event async for event in session.run_turn(text)]


async def fill(session: ChatSession, turns: int) -> None:
    for n in range(turns):
        question = f"Fact {n + 1}: my cat is called Tom and she is {n + 2} years old. " * 4 + "Say OK."
        assert isinstance((await run(session, question))[-1], TurnFinished)


async def test_the_window_is_the_one_started_and_a_reply_is_capped_to_what_is_left(
    server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    session = session_on(server, max_tokens=1024)  # 1,024 could never fit in 512
    assert session.endpoint.context_window == ContextLimit(N_CTX, "the embedded server's n_ctx (your setting)")
    with caplog.at_level(logging.INFO, logger="vt_tui.core.window"):
        events = await run(session, "What is the capital of France?")
    assert isinstance(events[-1], TurnFinished) and events[-1].text.strip()
    capped = [r.getMessage() for r in caplog.records if "capped" in r.getMessage()]
    assert capped and "max_tokens 1024 capped to" in capped[0] and "(counted)" in capped[0], capped
    await session.endpoint.aclose()


async def test_a_paste_over_the_window_is_not_sent_and_says_by_how_much(server: EmbeddedServer) -> None:
    session = session_on(server)
    log_before = server.log_path.stat().st_size
    events = await run(session, PASTE)
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.CONTEXT_OVERFLOW
    overflow = failed.error.overflow
    assert overflow.limit == N_CTX and overflow.margin == 0 and overflow.size > 8000  # the server's tokenizer
    assert f"{overflow.size:,} tokens for a 512-token window" in failed.error.message
    assert "retry" not in failed.error.hint.replace("retrying cannot fit", "")
    written = server.log_path.read_text(errors="replace")[log_before:]
    assert "chat/completions" not in written  # nothing was sent (only the tokenizer was asked)
    await session.endpoint.aclose()


async def test_the_servers_cut_stream_is_said_as_an_overflow(server: EmbeddedServer) -> None:
    """With a wrong window (here: a setting of 100,000), the request goes out; llama-cpp-python cuts the stream and
    writes why to its log only: the turn says the window, the size and what to do, not "retry"."""
    session = session_on(server)
    session.endpoint.context_window = ContextLimit(100_000, "a wrong setting")
    failed = (await run(session, "Tell me about foxes. " * 150))[-1]
    assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert failed.error.overflow.limit == N_CTX and failed.error.overflow.size > N_CTX
    assert "for a 512-token window" in failed.error.message and "retry" not in failed.error.hint.split("(")[0]
    await session.endpoint.aclose()


async def test_truncate_drops_the_oldest_turns_and_the_message_is_answered(server: EmbeddedServer) -> None:
    session = session_on(server, context_strategy=ContextStrategy.TRUNCATE)
    await fill(session, 3)
    events = await run(session, "Now a longer question about the cat. " * 25 + "How old is she?")
    trimmed = [e for e in events if isinstance(e, ContextTrimmed)]
    assert trimmed and trimmed[0].turn_ids[0] == session.turns[0].id, events[-1]
    assert isinstance(events[-1], TurnFinished) and events[-1].text.strip()
    assert not session.turns[0].in_context and session.turns[-1].in_context
    await session.endpoint.aclose()


async def test_compact_end_to_end(server: EmbeddedServer) -> None:
    session = session_on(server, context_strategy=ContextStrategy.COMPACT)
    await fill(session, 3)
    events = await run(session, "Now a longer question about the cat. " * 25 + "How old is she?")
    started = next(e for e in events if isinstance(e, CompactionStarted))
    done = next(e for e in events if isinstance(e, CompactionFinished))
    summary = "".join(e.text for e in events if isinstance(e, SummaryDelta))
    assert summary.strip() and done.summary == summary.strip() and done.turn_ids == started.turn_ids
    assert done.tokens_after < done.tokens_before
    assert isinstance(events[-1], TurnFinished), events[-1]
    request = session.request_for({"role": "user", "content": "again"})
    assert done.summary in request[0]["content"]
    await session.endpoint.aclose()


def test_ask_exits_3_with_one_line_for_a_paste_over_the_window(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vt_tui", "ask", "--n-ctx", str(N_CTX), "--max-tokens", "16", "-"],
        input=PASTE,
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ.copy(),
    )
    assert result.returncode == ExitCode.CONTEXT == 3, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("vt-tui: Too long for the model's context window: ") and "512-token window" in line
    assert "shorten the message" in line and result.stdout == ""
