"""Debian's Chromium, headless, driven through its DevTools protocol: a real browser for ``vt-tui web``.

Chromium listens for DevTools on a loopback port it picks (written to ``DevToolsActivePort`` in its profile);
one websocket to it carries every command (``Target.attachToTarget`` with ``flatten``: a session id per tab).
Nothing is downloaded: the browser is ``/usr/bin/chromium`` from ``apt-get install chromium``
(``scripts/debian-packages.sh browser``), and ``--host-resolver-rules`` keeps it on loopback as
tests/support/netguard keeps Python there.

What a tab shows: textual.js draws the app on a canvas (xterm.js), so the text is not in the DOM. The tab's own
websocket frames are read through the Network domain (the bytes the page's terminal was fed, and the sizes the
page asked for) and played into pyte, as tests/support/pty_app.py does with a pty; a screenshot shows the pixels.

    with Chromium(tmp_path) as browser:
        tab = browser.new_tab()
        tab.goto(url)
        tab.wait_for("idle")
        tab.type("hello")
        tab.press("Enter")
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.client import ClientConnection, connect

from tests.support.terminal import Terminal

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine's notes give for a closed network: no background fetches, no first-run, no GPU.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # any name but 127.0.0.1 fails to resolve
    "--remote-debugging-port=0",
)
KEYS = {
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "Escape": {"key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27},
    "F3": {"key": "F3", "code": "F3", "windowsVirtualKeyCode": 114},
}


def available() -> bool:
    return Path(CHROMIUM).is_file()


class DevToolsError(RuntimeError):
    pass


class DevTools:
    """One websocket to the browser: numbered commands and their replies, and every event kept in order."""

    def __init__(self, url: str) -> None:
        self.connecting = connect(url, max_size=None, open_timeout=10)
        self.socket: ClientConnection = self.connecting.__enter__()
        self.events: list[dict[str, Any]] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._next_id = 0
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="devtools", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the socket closes when the browser goes
            for raw in self.socket:
                message = json.loads(raw)
                with self._changed:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._changed.notify_all()

    def call(self, method: str, session: str | None = None, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        with self._changed:
            self._next_id += 1
            number = self._next_id
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        with self._changed:
            if not self._changed.wait_for(lambda: number in self._replies, timeout):
                raise DevToolsError(f"{method}: no reply after {timeout} s")
            reply = self._replies.pop(number)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self) -> None:
        self.connecting.__exit__(None, None, None)


class Tab(Terminal):
    """One page, and its terminal as pyte replays it from the page's websocket frames."""

    def __init__(self, devtools: DevTools, session: str) -> None:
        super().__init__(self._replay)
        self.devtools, self.session = devtools, session
        self._seen = 0  # events already played into the screen
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.devtools.call(method, self.session, **params)

    def goto(self, url: str) -> int:
        """Load ``url``; returns the HTTP status of the document."""
        mark = len(self.devtools.events)
        frame = self.call("Page.navigate", url=url)
        if "errorText" in frame:
            raise DevToolsError(f"{url}: {frame['errorText']}")
        document = self._wait_event(
            lambda e: e["method"] == "Network.responseReceived" and e["params"]["type"] == "Document", mark
        )
        self._wait_event(lambda e: e["method"] == "Page.loadEventFired", mark)
        return document["params"]["response"]["status"]

    def _wait_event(self, match: Any, start: int, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.devtools.events[start:]:
                if event.get("sessionId") == self.session and match(event):
                    return event
            time.sleep(0.05)
        raise DevToolsError(f"no matching event after {timeout} s")

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _replay(self, _: Terminal) -> None:
        """Play the frames the page's websocket received since the last look, at the sizes the page asked for."""
        events = self.devtools.events
        end = len(events)
        for event in events[self._seen : end]:
            if event.get("sessionId") != self.session:
                continue
            method, params = event["method"], event["params"]
            if method == "Network.webSocketCreated":
                query = parse_qs(urlsplit(params["url"]).query)
                if "width" in query and "height" in query:
                    self.resize(int(query["width"][0]), int(query["height"][0]))
            elif method == "Network.webSocketFrameSent" and params["response"]["opcode"] == 1:
                message = json.loads(params["response"]["payloadData"])
                if message[0] == "resize":
                    self.resize(message[1]["width"], message[1]["height"])
            elif method == "Network.webSocketFrameReceived" and params["response"]["opcode"] == 2:
                self.feed(base64.b64decode(params["response"]["payloadData"]))
        self._seen = end

    def focus_terminal(self) -> None:
        self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")

    def type(self, text: str) -> None:
        self.call("Input.insertText", text=text)

    def press(self, key: str) -> None:
        for kind in ("keyDown", "keyUp"):
            fields = dict(KEYS[key])
            if kind == "keyUp":
                fields.pop("text", None)
            self.call("Input.dispatchKeyEvent", type=kind, **fields)

    def set_viewport(self, width: int, height: int) -> None:
        """Set the page's viewport in CSS pixels, as dragging the window's corner does (the page hears ``resize``)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """The browser process, with a new empty profile in ``home``."""

    def __init__(self, home: Path, *, size: tuple[int, int] = (1280, 800)) -> None:
        self.home, self.size = home, size
        self.process: subprocess.Popen[bytes] | None = None
        self.devtools: DevTools | None = None

    def __enter__(self) -> Chromium:
        profile = self.home / "chromium-profile"
        profile.mkdir(parents=True)
        width, height = self.size
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "chromium.log").open("wb"),
            start_new_session=True,
        )
        self.devtools = DevTools(self._browser_url(profile / "DevToolsActivePort"))
        return self

    def _browser_url(self, port_file: Path, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = port_file.read_text().split() if port_file.exists() else []
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise DevToolsError(f"Chromium did not open DevTools; see {self.home / 'chromium.log'}")

    def new_tab(self) -> Tab:
        assert self.devtools is not None
        target = self.devtools.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.devtools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        tab = Tab(self.devtools, session)
        tab.set_viewport(*self.size)
        return tab

    def __exit__(self, *exc: object) -> None:
        if self.devtools is not None:
            with contextlib.suppress(Exception):
                self.devtools.call("Browser.close", timeout=5)
            self.devtools.close()
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
