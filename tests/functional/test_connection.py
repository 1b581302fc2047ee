"""Riding out what a real server does: not up yet, loading, restarted between turns or mid-stream, its model gone,
a stall. Real HTTP on 127.0.0.1; a restart is a real process killed with SIGKILL and started again on its port.

Timing is proved by ordering and generous bounds: a bound here is far below what the wrong behaviour would take.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.ports import closed_port
from tests.support.scripted_server import Reply, ScriptedServer, scripted_process, text_reply
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import ErrorKind
from vt_tui.core.events import TextDelta, TurnFailed, TurnFinished
from vt_tui.core.lifecycle import Connected, Failed, Lifecycle, Waiting
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store

LONG = " ".join(f"w{n}" for n in range(60))


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


async def test_waits_for_a_server_that_starts_late_and_connects_without_a_key_pressed() -> None:
    port = closed_port()
    endpoint = Endpoint(url_of(port))
    states, server = [], None
    try:
        async for state in Lifecycle(endpoint).states():
            states.append(state)
            if server is None:
                server = ScriptedServer(port=port).start()  # comes up during the 1 s wait
    finally:
        await endpoint.aclose()
        if server is not None:
            server.stop()
    waiting, connected = states
    assert isinstance(waiting, Waiting) and isinstance(connected, Connected)
    assert waiting.describe() == f"waiting for {url_of(port)} (connection refused) — retrying in 1 s"
    assert connected.models == ("scripted-model",) and waiting.waited_s < 1 <= connected.waited_s


async def test_backoff_doubles_to_15_s_and_retry_now_cuts_each_wait() -> None:
    endpoint = Endpoint(url_of(closed_port()))
    lifecycle = Lifecycle(endpoint)
    delays: list[float] = []
    started = time.monotonic()
    try:
        async for state in lifecycle.states():
            assert isinstance(state, Waiting) and state.attempt == len(delays) + 1
            delays.append(state.retry_in)
            if len(delays) == 7:
                break
            lifecycle.retry_now()
    finally:
        await endpoint.aclose()
    assert delays == [1, 2, 4, 8, 15, 15, 15]
    assert time.monotonic() - started < 20, "retry_now must end each wait (the waits add up to 45 s)"


async def test_loading_503_then_an_empty_listing_then_ready(scripted: ScriptedServer) -> None:
    scripted.get_routes["/v1/models"] = (503, {"detail": "Model is loading"})
    endpoint = Endpoint(scripted.base_url)
    lifecycle = Lifecycle(endpoint)
    reasons = []
    try:
        async for state in lifecycle.states():
            if isinstance(state, Waiting):
                reasons.append(state.reason)
                if len(reasons) == 1:
                    del scripted.get_routes["/v1/models"]
                    scripted.models = []
                else:
                    scripted.models = ["late-model"]
                lifecycle.retry_now()
    finally:
        await endpoint.aclose()
    assert reasons == ["503: Model is loading", "no model listed yet"]
    assert isinstance(state, Connected) and state.models == ("late-model",)


async def test_a_wrong_key_fails_at_once(scripted: ScriptedServer) -> None:
    scripted.api_key = "right-key"
    endpoint = Endpoint(scripted.base_url, "wrong-key")
    try:
        states = [state async for state in Lifecycle(endpoint).states()]
    finally:
        await endpoint.aclose()
    assert len(states) == 1 and isinstance(states[0], Failed) and states[0].error.kind is ErrorKind.AUTH


async def test_wait_s_gives_up_and_zero_is_one_try_with_the_error_as_it_is() -> None:
    url = url_of(closed_port())
    endpoint = Endpoint(url)
    try:
        states = [state async for state in Lifecycle(endpoint, wait_s=1.5).states()]
        once = [state async for state in Lifecycle(endpoint, wait_s=0).states()]
    finally:
        await endpoint.aclose()
    *waits, failed = states
    assert waits and all(isinstance(w, Waiting) for w in waits) and isinstance(failed, Failed)
    assert 0 < waits[0].retry_in <= 1.0 and sum(w.retry_in for w in waits) <= 1.5  # cut to what is left
    assert re.match(rf"Gave up waiting for {re.escape(url)} after \d s \(connection refused\)", failed.describe())
    assert len(once) == 1 and once[0].error.message == f"Cannot connect to {url} (connection refused)"


async def test_cancelling_the_wait_leaves_nothing_running(scripted: ScriptedServer) -> None:
    scripted.get_routes["/v1/models"] = (503, {"detail": "loading"})
    endpoint = Endpoint(scripted.base_url)
    waiting = asyncio.Event()

    async def watch() -> None:
        async for _ in Lifecycle(endpoint).states():
            waiting.set()

    task = asyncio.create_task(watch())
    await asyncio.wait_for(waiting.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    asked = len(scripted.requests)
    await asyncio.sleep(1.5)  # past the first retry: no try may follow a cancel
    await endpoint.aclose()
    assert len(scripted.requests) == asked == 1


# --- restarts ----------------------------------------------------------------------------------------


async def test_server_restarted_between_turns_the_next_turn_just_works() -> None:
    port = closed_port()
    endpoint = Endpoint(url_of(port))
    session = ChatSession(endpoint)
    try:
        with scripted_process(port):
            assert isinstance([e async for e in session.run_turn("before")][-1], TurnFinished)
        # killed (-9): the kept-alive connection is dead; a new process answers on the same port
        with scripted_process(port):
            events = [e async for e in session.run_turn("after")]
    finally:
        await endpoint.aclose()
    assert isinstance(events[-1], TurnFinished) and events[-1].text == "You said: after"
    assert not any(isinstance(e, TurnFailed) for e in events)


async def test_server_killed_mid_stream_keeps_and_marks_the_partial_reply(tmp_path: Path) -> None:
    port = closed_port()
    store = Store(tmp_path / "c.sqlite3")
    endpoint = Endpoint(url_of(port))
    session = ChatSession(endpoint, store=store)
    events = []
    try:
        with scripted_process(port, chunk_delay=0.05) as server:
            async for event in session.run_turn(LONG):
                events.append(event)
                if sum(isinstance(e, TextDelta) for e in events) == 3:
                    server.kill()
        with scripted_process(port):
            retried = [e async for e in session.run_turn(LONG)]  # what Ctrl+R sends
    finally:
        await endpoint.aclose()
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and not failed.cancelled and failed.error.kind is ErrorKind.STREAM_CUT
    assert failed.partial_text.startswith("You said: ") and len(failed.partial_text) < len(LONG)
    assert "closed the connection" in failed.error.message and "partial reply is kept" in failed.error.hint
    stored = Store(tmp_path / "c.sqlite3").turns(session.conversation_id)[0]
    assert (stored.status, stored.assistant_text) == ("failed", failed.partial_text)
    assert "cut mid-reply" in stored.error
    assert isinstance(retried[-1], TurnFinished) and retried[-1].text == f"You said: {LONG}"


async def test_model_gone_after_a_restart_says_so_and_what_is_offered() -> None:
    port = closed_port()
    endpoint = Endpoint(url_of(port))
    session = ChatSession(endpoint)
    try:
        with scripted_process(port, models="old-model", strict_models=True):
            assert isinstance([e async for e in session.run_turn("hi")][-1], TurnFinished)
        with scripted_process(port, models="new-a,new-b", strict_models=True):
            failed = [e async for e in session.run_turn("hi again")][-1]
    finally:
        await endpoint.aclose()
    assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.MODEL_NOT_FOUND
    assert failed.error.offered == ("new-a", "new-b") and endpoint.models == ["new-a", "new-b"]
    assert str(failed.error) == (
        f"{url_of(port)} does not serve 'old-model' (any more); it offers: new-a, new-b"
        " — pick another model (F2 in the app, --model with ask)"
    )


async def test_a_404_for_a_listed_model_stays_a_plain_not_found(scripted: ScriptedServer) -> None:
    scripted.queue(Reply(status=404, body={"error": {"message": "no such route"}}))
    endpoint = Endpoint(scripted.base_url)
    try:
        failed = [e async for e in ChatSession(endpoint).run_turn("hi")][-1]
    finally:
        await endpoint.aclose()
    assert failed.error.kind is ErrorKind.NOT_FOUND and "no such route" in failed.error.message


# --- stalls and first bytes --------------------------------------------------------------------------


async def test_a_stall_mid_stream_ends_the_turn_with_the_partial_reply(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("one two three four", pause_at=3, pause_s=30))
    endpoint = Endpoint(scripted.base_url, stream_idle_timeout=0.5)
    started = time.monotonic()
    try:
        failed = [e async for e in ChatSession(endpoint).run_turn("go")][-1]
    finally:
        await endpoint.aclose()
    assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.STALLED and not failed.cancelled
    assert failed.partial_text == "one two "
    assert str(failed.error).startswith(f"{scripted.base_url} stopped sending mid-reply (nothing for 0.5 s)")
    assert time.monotonic() - started < 15, "ended by the idle timeout, not by the server's 30 s pause"


async def test_the_idle_timeout_is_not_the_first_byte_timeout(scripted: ScriptedServer) -> None:
    """A slow first byte is request_timeout's; steady gaps below the idle timeout never end a reply."""
    scripted.queue(
        text_reply("slow to start", first_byte_delay=1.5),
        text_reply("steady but slow", chunk_delay=0.3),
        text_reply("never", first_byte_delay=30),
    )
    endpoint = Endpoint(scripted.base_url, request_timeout=1.0, stream_idle_timeout=1.0)
    fresh = Endpoint(scripted.base_url, request_timeout=10, stream_idle_timeout=0.5)
    try:
        late = [e async for e in ChatSession(fresh).run_turn("a")][-1]
        steady = [e async for e in ChatSession(fresh).run_turn("b")][-1]
        started = time.monotonic()
        silent = [e async for e in ChatSession(endpoint).run_turn("c")][-1]
    finally:
        await endpoint.aclose()
        await fresh.aclose()
    assert isinstance(late, TurnFinished) and late.text == "slow to start"
    assert isinstance(steady, TurnFinished) and steady.text == "steady but slow"
    assert isinstance(silent, TurnFailed) and silent.error.kind is ErrorKind.TIMEOUT
    assert str(silent.error).startswith(f"No reply from {scripted.base_url} in time")
    assert time.monotonic() - started < 15


async def test_cancel_during_a_stall_is_a_cancel(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("one two", pause_at=2, pause_s=30))
    endpoint = Endpoint(scripted.base_url, stream_idle_timeout=20)
    session = ChatSession(endpoint)
    try:
        async for event in session.run_turn("go"):
            if isinstance(event, TextDelta):
                session.cancel()
    finally:
        await endpoint.aclose()
    assert isinstance(event, TurnFailed) and event.cancelled and event.partial_text == "one "


async def test_the_api_key_is_blanked_out_of_errors(scripted: ScriptedServer) -> None:
    key = "sk-test-0123456789-secret"
    scripted.queue(Reply(status=500, body={"error": {"message": f"bad header 'Authorization: Bearer {key}'"}}))
    endpoint = Endpoint(scripted.base_url, key)
    try:
        failed = [e async for e in ChatSession(endpoint).run_turn("hi")][-1]
    finally:
        await endpoint.aclose()
    said = f"{failed.error} {failed.error.to_dict()}"
    assert key not in said and "Bearer ***" in said


# --- vt-tui ask --wait -------------------------------------------------------------------------------


def test_ask_wait_answers_once_the_server_is_up() -> None:
    port = closed_port()
    ask = subprocess.Popen(
        [sys.executable, "-m", "vt_tui", "ask", "--tools", "off", "--base-url", url_of(port), "--wait", "60", "hi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert ask.stderr is not None
    first = ask.stderr.readline()
    with ScriptedServer(port=port):
        out, err = ask.communicate(timeout=60)
    assert first == f"vt-tui: waiting for {url_of(port)} (connection refused) — retrying in 1 s\n"
    assert ask.returncode == 0 and out == "You said: hi\n", err
    assert "Traceback" not in err


def test_ask_wait_gives_up_with_one_line_and_exit_code_1() -> None:
    url = url_of(closed_port())
    done = subprocess.run(
        [sys.executable, "-m", "vt_tui", "ask", "--base-url", url, "--wait", "1", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and done.stdout == ""
    assert lines[:-1] == [f"vt-tui: waiting for {url} (connection refused) — retrying in 1 s"]
    assert re.match(rf"vt-tui: Gave up waiting for {re.escape(url)} after \d s \(connection refused\)", lines[-1])
