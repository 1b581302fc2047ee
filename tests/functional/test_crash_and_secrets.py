"""The app as a black box in a real terminal (tests/support/pty_app.py): killed with SIGKILL mid-stream, then
reopened with --resume; and a whole session with a known API key, after which no file vt-tui wrote holds the key.

Only keystrokes go in and only the screen and the files come out, so these hold however the UI is arranged.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.support.ports import closed_port
from tests.support.pty_app import PtyApp
from tests.support.scripted_server import Reply, ScriptedServer, text_reply

WORDS = " ".join(f"word{n}" for n in range(80))
KEY = "sk-vt-tui-test-5f3a9c1e7b2d"  # a key no file may ever hold


def database(home: Path) -> Path:
    return home / "data" / "vt-tui" / "conversations.sqlite3"


def stored_reply(db: Path) -> tuple[str, str] | None:
    """(status, assistant_text) of the last turn, read as a second process would (the app may be writing)."""
    if not db.exists():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
        row = con.execute("SELECT status, assistant_text FROM turns ORDER BY id DESC LIMIT 1").fetchone()
    return row


def test_kill_9_mid_stream_then_resume_shows_the_partial_reply_marked(scripted: ScriptedServer, xdg_home: Path) -> None:
    scripted.default_chunk_delay = 0.15  # the echo streams a word every 0.15 s: ~12 s for the whole reply
    args = ["--base-url", scripted.base_url, "--tools", "off"]
    db = database(xdg_home)
    with PtyApp(args, dict(os.environ)) as app:
        app.wait_for("idle")
        app.type(WORDS + "\r")
        app.wait_for("word6")
        deadline = time.monotonic() + 20
        while (row := stored_reply(db)) is None or "word3" not in row[1]:  # flushed at least once (every 1 s)
            assert time.monotonic() < deadline, row
            time.sleep(0.1)
        app.kill()
    status, partial = stored_reply(db)
    assert status == "streaming" and partial.startswith("You said: word0 word1") and "word79" not in partial
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with PtyApp([*args, "--resume"], dict(os.environ)) as app:
        screen = app.wait_for("interrupted (vt-tui stopped mid-reply)")
        reply = screen[screen.index("You said: word0") :]  # the user's prompt, all 80 words, is above it
        last = int(partial.split()[-1].removeprefix("word"))
        assert f"word{last}" in reply and f"word{last + 1}" not in reply, reply
        app.press("ctrl+q")


def test_the_api_key_is_in_no_file_vt_tui_writes(scripted: ScriptedServer, xdg_home: Path) -> None:
    """A session with a known key: a tool call, an error whose body echoes the request's Authorization header,
    both exports; then doctor and ask (one failing). Every file under the XDG dirs, and every output, is scanned."""
    scripted.api_key = KEY
    scripted.queue(
        text_reply('```tool\n{"name": "calculator", "arguments": {"expression": "6*7"}}\n```'),
        text_reply("It is 42."),
        Reply(status=500, body={"error": {"message": f"upstream rejected 'Authorization: Bearer {KEY}'"}}),
    )
    env = {**os.environ, "VT_TUI_API_KEY": KEY}
    with PtyApp(["--base-url", scripted.base_url], env) as app:
        app.wait_for("idle")
        app.type("What is 6*7? Use the calculator.\r")
        app.wait_for("It is 42.")
        app.type("and again\r")
        screens = [app.wait_for("upstream rejected")]
        app.press("f8")
        screens.append(app.wait_for("Exported to"))
        time.sleep(0.5)
        app.press("f9")
        time.sleep(1.0)
        screens.append(app.text())
        app.press("ctrl+q")
        app.proc.wait(20)
    chats = scripted.chat_requests
    assert len(chats) == 3 and chats[1]["messages"][-1]["content"] == "Tool result for calculator: 42"
    outputs = []
    for command in (["doctor", "--base-url", scripted.base_url], ["ask", "--base-url", scripted.base_url, "hi"]):
        scripted.queue(Reply(status=500, body={"detail": f"bad key {KEY}"}))
        done = subprocess.run(
            [sys.executable, "-m", "vt_tui", *command], env=env, capture_output=True, text=True, timeout=120
        )
        outputs.append(done.stdout + done.stderr)
    assert "bad key ***" in outputs[1]
    written = [p for p in xdg_home.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in written}
    assert {".sqlite3", ".log", ".md", ".json"} <= kinds, sorted(str(p.relative_to(xdg_home)) for p in written)
    holding = [str(p.relative_to(xdg_home)) for p in written if KEY.encode() in p.read_bytes()]
    assert holding == [], f"the API key was written to {holding}"
    for shown in [*screens, *outputs]:
        assert KEY not in shown


def test_the_app_waits_for_a_server_that_starts_late_and_sends_the_prompt_typed_meanwhile() -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/v1"
    with PtyApp(["--base-url", url, "--tools", "off"], dict(os.environ)) as app:
        app.wait_for(f"waiting for {url} (connection refused) — retrying in 1 s")
        app.type("hello there\r")
        app.wait_for("retrying in 4 s", timeout=30)  # backing off: 1, 2, 4 s
        with ScriptedServer(port=port):
            app.press("ctrl+r")  # retry now, instead of in 4 s
            app.wait_for("You said: hello there", timeout=30)
            app.press("ctrl+q")


def test_a_wrong_key_at_start_puts_the_prompt_back_instead_of_hanging(scripted: ScriptedServer) -> None:
    scripted.api_key = "the-right-key"
    env = {**os.environ, "VT_TUI_API_KEY": "a-wrong-key"}
    with PtyApp(["--base-url", scripted.base_url, "--tools", "off"], env) as app:
        app.wait_for("refused the API key")
        app.type("my precious prompt\r")
        screen = app.wait_for("not connected")
        assert "my precious prompt" in screen  # back in the composer, nothing sent
        assert scripted.chat_requests == []
        app.press("ctrl+q")


def test_the_app_leaves_when_its_terminal_goes_away_without_a_hangup_signal(scripted: ScriptedServer) -> None:
    """An SSH connection dropped or ``tmux kill-server`` while ``make run`` stood between the terminal and vt-tui:
    make takes the SIGHUP, and the terminal just closes. The app must end (not spin on a dead terminal for ever)."""
    import psutil

    with PtyApp(["--base-url", scripted.base_url, "--tools", "off"], dict(os.environ)) as app:
        app.wait_for("idle")
        assert app.proc is not None
        process = psutil.Process(app.proc.pid)
        os.close(app._fd)  # the terminal goes; the app is not this pty's session leader: no SIGHUP reaches it
        app._fd = -1
        try:
            code = app.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            busy = process.cpu_percent(interval=1.0)
            raise AssertionError(f"still running {busy:.0f} % CPU on a terminal that is gone") from None
        assert code == 1
