"""`vt-tui web` as a process: the token at the door, the tabs (a websocket each, as textual.js opens them) on one
endpoint and store, and every tab's vt-tui gone when the server goes. The real browser: test_web_browser.py."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.scripted_server import ScriptedServer, text_reply
from tests.support.web_app import WebApp
from vt_tui.core.store import Store


@pytest.fixture
def web(scripted: ScriptedServer) -> WebApp:
    with WebApp(["--base-url", scripted.base_url]) as app:
        yield app


def wait_until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_it_prints_the_url_with_its_token_and_the_ssh_command(web: WebApp, scripted: ScriptedServer) -> None:
    assert web.url == f"http://127.0.0.1:{web.port}/?token={web.token}" and len(web.token) >= 43
    assert f"all on {scripted.base_url}." in web.printed[0]
    assert any(f"ssh -L {web.port}:127.0.0.1:{web.port} " in line for line in web.printed)
    assert not any("WARNING" in line for line in web.printed)  # 127.0.0.1: nothing exposed


@pytest.mark.parametrize("query", ["", "?token=", "?token=wrong", "?tok=x"])
def test_no_token_no_page(web: WebApp, query: str) -> None:
    page = web.get("/" + query)
    assert page.status == 403
    assert "vt-tui needs its token" in page.body and "/?token=" in page.body  # what to do
    assert "textual.js" not in page.body and "/ws/" not in page.body


def test_no_token_no_websocket_and_no_app(web: WebApp) -> None:
    for token in ("wrong", web.token[:-1], "x" * len(web.token)):
        with pytest.raises(InvalidStatus) as refused, web.tab(token=token):
            pass
        assert refused.value.response.status_code == 403
    assert web.tab_processes() == []


def test_another_site_s_page_cannot_open_a_tab_even_with_the_token(web: WebApp) -> None:
    with pytest.raises(InvalidStatus) as refused, web.tab(origin="https://evil.example"):
        pass
    assert refused.value.response.status_code == 403


def test_the_page_points_its_websocket_where_the_browser_reached_it(web: WebApp) -> None:
    """Through `ssh -L 9000:127.0.0.1:8765` the browser asks for localhost:9000: the page must say 9000."""
    page = web.get(f"/?token={web.token}", headers={"Host": "localhost:9000"})
    assert page.status == 200
    assert f'data-session-websocket-url="ws://localhost:9000/ws/{web.token}"' in page.body
    assert page.headers["Referrer-Policy"] == "no-referrer"  # links the app opens don't carry the token away
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "googleapis" not in page.body  # nothing fetched from outside this machine


def test_the_browser_side_assets_are_served(web: WebApp) -> None:
    for path in ("/static/js/textual.js", "/static/css/xterm.css", "/static/fonts/RobotoMono-VariableFont_wght.ttf"):
        assert web.get(path).status == 200, path


def test_each_tab_is_its_own_vt_tui_on_one_endpoint_and_store(
    web: WebApp, scripted: ScriptedServer, xdg_home: Path
) -> None:
    scripted.queue(text_reply("first tab answered"), text_reply("second tab answered"))
    with web.tab() as first, web.tab() as second:
        first.wait_for("idle")
        second.wait_for("idle")
        assert len(web.tab_processes()) == 2
        first.type("one")
        first.type("\r")
        first.wait_for("first tab answered")
        second.type("two")
        second.type("\r")
        second.wait_for("second tab answered")
        assert "first tab answered" not in second.text()
    assert [m["content"] for m in scripted.chat_requests[0]["messages"] if m["role"] == "user"] == ["one"]
    wait_until(lambda: web.tab_processes() == [])  # a closed tab ends its vt-tui
    store = Store(xdg_home / "data" / "vt-tui" / "conversations.sqlite3")
    try:
        turns = [turn for info in store.list_conversations() for turn in store.turns(info.id)]
    finally:
        store.close()
    assert {(t.user_text, t.assistant_text) for t in turns} == {
        ("one", "first tab answered"),
        ("two", "second tab answered"),
    }


@pytest.mark.parametrize("group", [False, True], ids=["kill -INT", "ctrl+c in its terminal"])
def test_ctrl_c_closes_every_tab_and_its_vt_tui(web: WebApp, group: bool) -> None:
    """SIGINT to the server alone, or to its process group (the tabs' vt-tui too) as a terminal's Ctrl+C does."""
    with web.tab() as tab:
        tab.wait_for("idle")
        (process,) = web.tab_processes()
        assert web.stop(signal.SIGINT, group=group) == 0
        closed = tab.wait_closed()
        # "going away" from the server; with the tabs signalled too, a tab's vt-tui may quit first (a normal close)
        assert closed is not None and closed.code in ({1000, 1001} if group else {1001})
        wait_until(lambda: not process.is_running() or process.status() == psutil.STATUS_ZOMBIE)


def test_a_killed_server_leaves_no_tab_behind(web: WebApp) -> None:
    """SIGKILL (the OOM killer, a dropped session's cleanup): each tab's vt-tui notices and quits."""
    with web.tab() as tab:
        tab.wait_for("idle")
        (process,) = web.tab_processes()
        web.stop(signal.SIGKILL)
        wait_until(lambda: not process.is_running() or process.status() == psutil.STATUS_ZOMBIE, timeout=10)


def test_the_token_stays_out_of_the_log_file(web: WebApp, xdg_home: Path) -> None:
    assert web.get(f"/?token={web.token}").status == 200
    with web.tab() as tab:
        tab.wait_for("idle")
    web.get("/ws/not-the-token")
    web.stop()
    log = (xdg_home / "state" / "vt-tui" / "vt-tui.log").read_text()
    assert "connected to" in log  # the tab's vt-tui logged there
    assert web.token not in log


def test_a_port_in_use_is_a_clear_error(scripted: ScriptedServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "vt_tui", "web", "--port", str(port), "--base-url", scripted.base_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"vt-tui web: cannot listen on 127.0.0.1:{port}" in result.stderr and "try another --port" in result.stderr
