"""The app riding out what a real server does, as the user sees it: not up yet, restarted between turns (back at
once, or not yet), killed mid-stream, restarted with other models, stalled. The app under Pilot; the server a real
HTTP server on 127.0.0.1, stopped and started again on the same port (a restart is a process killed with SIGKILL
and started again, tests/support/scripted_server.scripted_process).

Timing is proved by ordering and generous bounds, as in test_connection.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.support.ports import closed_port
from tests.support.scripted_server import ScriptedServer, scripted_process, text_reply
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.screens.picker import PickerScreen
from vt_tui.ui.widgets.chat_log import AssistantMessage, UserMessage
from vt_tui.ui.widgets.composer import Composer

SIZE = (100, 30)
LONG = " ".join(f"w{n}" for n in range(60))


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def app_on(url: str, data: Path, **settings: Any) -> VtApp:
    return VtApp(Settings(base_url=url, data_dir=data, tools="off", **settings))


async def until(pilot: Pilot, condition: Callable[[], Any], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await pilot.pause(0.05)


def replies(app: VtApp) -> list[AssistantMessage]:
    return list(app.query(AssistantMessage))


def prompts(app: VtApp) -> list[UserMessage]:
    return list(app.query(UserMessage))


def shown(widget: UserMessage | AssistantMessage) -> str:
    return str(widget.render() if isinstance(widget, UserMessage) else widget.footer.render())


async def type_and_send(app: VtApp, pilot: Pilot, text: str) -> None:
    app.query_one(Composer).load_text(text)
    await pilot.press("enter")


def mark(url: str) -> str:
    return f"⏳ waiting for {url} — sent once it answers"


async def test_a_prompt_typed_before_the_server_is_up_waits_marked_and_goes_out_with_no_key(tmp_path: Path) -> None:
    port = closed_port()
    url = url_of(port)
    app = app_on(url, tmp_path)
    messages: list[str] = []

    def counted_down_2_then_1() -> bool:
        message = app.status.message
        if not messages or messages[-1] != message:
            messages.append(message)
        return message.endswith("retrying in 1 s") and any(m.endswith("retrying in 2 s") for m in messages)

    server = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.status.phase == "waiting", "waiting for the server")
            await type_and_send(app, pilot, "are you up?")
            await until(pilot, lambda: prompts(app), "the prompt shown")
            (user,) = prompts(app)
            await pilot.pause()
            assert shown(user) == f"are you up?\n{mark(url)}"
            assert not replies(app) and app.chat_screen.turn_running
            # The second wait is 2 s: the status bar counts it down (2, then 1) before the next try.
            await until(pilot, counted_down_2_then_1, "the countdown")
            server = ScriptedServer(port=port).start()  # no key pressed from here on
            await until(pilot, lambda: replies(app) and replies(app)[-1].text == "You said: are you up?", "reply")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert shown(user) == "are you up?"  # the mark is gone: it was sent
            greeting, *rest = app.chat_screen.chat.children  # the persona's greeting, above the waiting prompt
            assert greeting.has_class("greeting") and rest == [user, replies(app)[-1]]
            assert app.status.phase == "idle" and app.status.message == ""
            assert "failed" not in shown(replies(app)[-1])
    finally:
        if server is not None:
            server.stop()
    waits = [m for m in messages if m.startswith("waiting for")]
    assert all(m.startswith(f"waiting for {url} (connection refused) — retrying in ") for m in waits), waits
    assert [m[-3:] for m in waits][:2] == ["1 s", "2 s"]


async def test_restarted_between_turns_the_next_turn_just_works(tmp_path: Path) -> None:
    """Killed (-9) and back before the next prompt: the kept-alive connection is dead, the endpoint sends again on
    a new one; the user sees a reply and nothing else (no waiting, no failure)."""
    port = closed_port()
    app = app_on(url_of(port), tmp_path)
    waits: list[object] = []
    async with app.run_test(size=SIZE) as pilot:
        app.show_waiting = waits.append  # type: ignore[method-assign]  # counted: must never be called
        with scripted_process(port):
            await until(pilot, lambda: app.ready.is_set(), "connected")
            await type_and_send(app, pilot, "before")
            await until(pilot, lambda: replies(app) and replies(app)[-1].text == "You said: before", "first reply")
            await app.workers.wait_for_complete()
        with scripted_process(port):
            await type_and_send(app, pilot, "after")
            await until(pilot, lambda: len(replies(app)) == 2 and replies(app)[-1].text == "You said: after", "reply")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert waits == [] and app.status.phase == "idle"
        assert not any(r.has_class("failed") for r in replies(app))
        assert [shown(u) for u in prompts(app)] == ["before", "after"]


async def test_gone_between_turns_the_prompt_waits_marked_esc_withdraws_it_ctrl_r_sends_it_now(
    tmp_path: Path,
) -> None:
    """Killed and not back yet: the next prompt is not failed but waits, marked, while the status bar counts down
    to the next try; Esc takes it back into the composer; sent again, it waits again; the server starts, Ctrl+R
    tries at once, and it goes out (one reply, no failure shown)."""
    port = closed_port()
    url = url_of(port)
    app = app_on(url, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        with scripted_process(port):
            await until(pilot, lambda: app.ready.is_set(), "connected")
            await type_and_send(app, pilot, "first")
            await until(pilot, lambda: replies(app) and replies(app)[-1].text == "You said: first", "first reply")
            await app.workers.wait_for_complete()
        composer = app.query_one(Composer)
        await type_and_send(app, pilot, "second")
        await until(pilot, lambda: app.status.phase == "waiting", "waiting for the server again")
        await pilot.pause()
        assert [shown(u) for u in prompts(app)] == ["first", f"second\n{mark(url)}"]
        assert len(replies(app)) == 1 and not app.ready.is_set()
        assert app.status.message.startswith(f"waiting for {url} (connection refused) — retrying in ")

        await pilot.press("escape")
        await until(pilot, lambda: not app.chat_screen.turn_running, "the prompt withdrawn")
        await pilot.pause()
        assert [shown(u) for u in prompts(app)] == ["first"] and composer.text == "second"
        assert app.status.phase == "waiting"  # the app goes on waiting for the server

        await pilot.press("enter")
        await until(pilot, lambda: app.status.message.endswith("retrying in 4 s"), "a 4 s wait")
        assert [shown(u) for u in prompts(app)] == ["first", f"second\n{mark(url)}"]
        with ScriptedServer(port=port) as server:
            await pilot.pause(0.3)
            assert server.requests == []  # up, but not asked until the wait ends...
            await pilot.press("ctrl+r")  # ...or Ctrl+R cuts it short
            await until(pilot, lambda: len(replies(app)) == 2 and replies(app)[-1].text.endswith("second"), "reply")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert [r["path"] for r in server.requests] == ["/v1/models", "/v1/chat/completions"]
        assert [shown(u) for u in prompts(app)] == ["first", "second"]
        assert not any(r.has_class("failed") for r in replies(app)) and app.status.phase == "idle"


async def test_killed_mid_stream_the_partial_reply_is_kept_and_marked_and_ctrl_r_resends(tmp_path: Path) -> None:
    port = closed_port()
    app = app_on(url_of(port), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        with scripted_process(port, chunk_delay=0.05) as server:
            await until(pilot, lambda: app.ready.is_set(), "connected")
            await type_and_send(app, pilot, LONG)
            await until(pilot, lambda: replies(app) and "w3" in replies(app)[-1].text, "some of the reply")
            server.kill()
            await until(pilot, lambda: not app.chat_screen.turn_running, "the turn ended")
        await pilot.pause()
        (cut,) = replies(app)
        partial = cut.text
        assert partial.startswith("You said: w0 w1") and len(partial) < len(f"You said: {LONG}")
        assert cut.has_class("failed")
        assert shown(cut).startswith(f"✗ failed: The stream from {url_of(port)} was cut mid-reply")
        assert shown(cut).endswith(
            " (the server closed the connection: restarted or stopped?) — the partial reply is kept; retry with Ctrl+R"
        )
        assert app.status.phase == "error" and "cut mid-reply" in app.status.message
        with scripted_process(port):
            await pilot.press("ctrl+r")
            await until(pilot, lambda: replies(app)[-1:] != [cut] and not app.chat_screen.turn_running, "resent")
            await pilot.pause()
        assert replies(app)[-1].text == f"You said: {LONG}" and not replies(app)[-1].has_class("failed")
        assert [shown(u) for u in prompts(app)] == [LONG] and shown(replies(app)[-1]).startswith("‹ 2/2 › · ")
        session = app.chat_screen.session
        first = session.tree.nodes[session.tree.siblings(session.turns[-1].id)[0]]
        assert first.assistant_text == partial and first.status == "failed"  # the partial reply stays, a version


async def test_model_gone_after_a_restart_is_one_line_and_f2_lists_the_server_s_models_again(tmp_path: Path) -> None:
    port = closed_port()
    url = url_of(port)
    app = app_on(url, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        with scripted_process(port, models="old-model", strict_models=True):
            await until(pilot, lambda: app.ready.is_set(), "connected")
            await type_and_send(app, pilot, "hi")
            await until(pilot, lambda: replies(app) and replies(app)[-1].text == "You said: hi", "first reply")
            await app.workers.wait_for_complete()
        with scripted_process(port, models="new-a,new-b", strict_models=True):
            await type_and_send(app, pilot, "hi again")
            await until(pilot, lambda: len(replies(app)) == 2 and not app.chat_screen.turn_running, "the turn ended")
        await pilot.pause()
        said = (
            f"{url} does not serve 'old-model' (any more); it offers: new-a, new-b"
            " — F2 picks another model, then Ctrl+R sends the prompt again"
        )
        gone = replies(app)[-1]
        assert gone.has_class("failed") and gone.text == ""
        assert shown(gone) == f"✗ failed: {said}"
        assert app.status.phase == "error" and app.status.message == said

        # Restarted once more, with one more model: F2 lists what the server has now, not what the error said.
        with scripted_process(port, models="new-a,new-b,new-c", strict_models=True):
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, PickerScreen), "the model picker")
            picker = app.screen
            assert isinstance(picker, PickerScreen) and "old-model is gone" in picker.title_text
            await until(pilot, lambda: [m for m, _ in picker._rows] == ["new-a", "new-b", "new-c"], "the new list")
            await pilot.press("n", "e", "w", "-", "c", "enter")
            await pilot.pause()
            assert app.status.model == "new-c"
            await pilot.press("ctrl+r")  # a new version of the failed turn, in its place
            await until(pilot, lambda: replies(app)[-1:] != [gone] and not app.chat_screen.turn_running, "resent")
            await pilot.pause()
        answer = replies(app)[-1]
        assert answer.text == "You said: hi again" and answer.model == "new-c" and not answer.has_class("failed")


async def test_a_stall_keeps_the_partial_reply_and_says_so(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(text_reply("one two three four", pause_at=3, pause_s=30))
    app = app_on(scripted.base_url, tmp_path, stream_idle_timeout=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready.is_set(), "connected")
        started = time.monotonic()
        await type_and_send(app, pilot, "go")
        await until(pilot, lambda: replies(app) and not app.chat_screen.turn_running, "the turn ended", timeout=15)
        await pilot.pause()
        (stalled,) = replies(app)
        assert stalled.text == "one two " and stalled.has_class("failed")
        assert shown(stalled).startswith(
            f"✗ failed: {scripted.base_url} stopped sending mid-reply (nothing for 0.5 s) — the partial reply is kept"
        )
        assert app.status.phase == "error" and "stopped sending mid-reply" in app.status.message
    assert time.monotonic() - started < 15, "ended by the idle timeout, not by the server's 30 s pause"
