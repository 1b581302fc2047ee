"""`vt-tui web` in a real browser: Debian's headless Chromium, driven through its DevTools protocol
(tests/support/browser.py), against the scripted OpenAI-compatible server and a dcgm-exporter on loopback.

The page is refused without the token (and so is its websocket); with it, the app comes up in the page, takes
a prompt typed into it, streams the reply and shows the GPU pane. What the page's terminal shows is read from the
frames its own websocket received; ``screenshot`` keeps what it looked like.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import browser
from tests.support.browser import Chromium
from tests.support.metrics_server import MetricsServer, fixture
from tests.support.scripted_server import ScriptedServer, text_reply
from tests.support.web_app import WebApp

pytestmark = pytest.mark.skipif(not browser.available(), reason="needs Debian's chromium (make test installs it)")

REPLY = "Streaming into the browser one word at a time, straight from the scripted server."
OPEN_WEBSOCKET = """new Promise(resolve => {
    const socket = new WebSocket(`ws://${location.host}/ws/%s?width=80&height=24`);
    socket.onopen = () => resolve("opened");
    socket.onclose = event => resolve(`closed ${event.code}`);
})"""


@pytest.fixture
def web(scripted: ScriptedServer) -> WebApp:
    with (
        MetricsServer({"/metrics": fixture("prom-dcgm.txt")}) as dcgm,
        WebApp(["--base-url", scripted.base_url, "--metrics-urls", f"{dcgm.root}/metrics"]) as app,
    ):
        yield app


def test_without_the_token_the_browser_gets_no_app(web: WebApp, tmp_path: Path) -> None:
    with Chromium(tmp_path) as chromium:
        tab = chromium.new_tab()
        assert tab.goto(f"{web.root}/?token=guessed") == 403
        text = tab.evaluate("document.body.innerText")
        assert "vt-tui needs its token" in text and "Open that whole link" in text
        assert tab.evaluate(OPEN_WEBSOCKET % "guessed") == "closed 1006"  # the handshake was refused
        assert tab.evaluate(OPEN_WEBSOCKET % "") == "closed 1006"
        assert web.tab_processes() == []


def test_a_browser_tab_runs_the_app_and_streams_a_reply(web: WebApp, scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(text_reply(REPLY, chunk_delay=0.2))
    with Chromium(tmp_path, size=(1400, 860)) as chromium:
        tab = chromium.new_tab()
        started = time.monotonic()
        assert tab.goto(web.url) == 200
        tab.wait_for("idle")
        ready_s = time.monotonic() - started
        screen = tab.wait_for("H100")  # the GPU pane, fed by the dcgm-exporter
        assert "GPU" in screen and scripted.base_url in screen
        assert "-first-byte" in tab.evaluate("document.body.className")  # textual.js drew the app

        tab.focus_terminal()
        tab.type("Tell me something, slowly")
        tab.press("Enter")
        mid_stream = tab.wait_for("Streaming into")
        assert "scripted server." not in mid_stream  # seen while it streams, not only at the end
        done = tab.wait_for("scripted server.")
        assert "Tell me something, slowly" in done
        assert scripted.chat_requests[-1]["messages"][-1]["content"] == "Tell me something, slowly"
        tab.wait_for("tok/s")
        tab.screenshot(tmp_path / "vt-tui-web.png")

        wide = tab.screen.columns
        tab.set_viewport(820, 540)  # a smaller window: the page refits and the app redraws at the new size
        tab.wait_until(lambda screen: tab.screen.columns < wide and "Streaming into" in screen, "the app, narrower")
        time.sleep(0.5)  # the canvas paints on the next animation frame
        tab.screenshot(tmp_path / "vt-tui-web-narrow.png")
    print(f"browser: page to app ready in {ready_s:.1f} s")
