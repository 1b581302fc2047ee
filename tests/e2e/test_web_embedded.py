"""`vt-tui web` on the embedded default: the llama.cpp server starts once, in the web process, and every tab's
vt-tui talks to it (several tabs must not each start a server of their own)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.support.ports import closed_port
from tests.support.web_app import WebApp
from vt_tui.headless import ExitCode

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SERVER = "vt_tui.engines.serve_child"


def test_tabs_share_the_one_embedded_server() -> None:
    with WebApp(["--temperature", "0", "--max-tokens", "24"], startup_s=120) as web:
        assert web.printed[0] == "vt-tui web: starting the embedded model (SmolLM2-135M-Instruct.Q4_1.gguf)…"
        found = re.search(
            r"all on embedded: SmolLM2-135M-Instruct.Q4_1.gguf at (http://127.0.0.1:\d+/v1)\.", web.printed[1]
        )
        assert found, web.printed
        base_url = found.group(1)
        assert web.processes(SERVER) and len(web.processes(SERVER)) == 1
        with web.tab() as first, web.tab() as second:
            for tab in (first, second):
                tab.wait_for("idle", timeout=90)
                assert base_url in tab.text()  # pointed at the web process's server, not one of its own
                assert re.search(r"ctx ~?[\d.]+k? / 8k", tab.text())  # SmolLM2's trained window, told by vt-tui web
            first.type("What is the capital of France?\r")
            second.type("Say hello.\r")
            first.wait_for("tok/s", timeout=120)
            second.wait_for("tok/s", timeout=120)
            for tab in (first, second):  # both whole: the second prompt queued behind the first, cut nothing
                assert "failed" not in tab.text() and "cut" not in tab.text()
            assert "Paris" in first.text()
            assert len(web.processes(SERVER)) == 1 and len(web.processes("vt_tui.web.tab")) == 2
        server = web.processes(SERVER)[0]
    assert not server.is_running(), "the embedded server stops with vt-tui web"


def test_ctrl_c_while_the_model_starts_stops_it_too() -> None:
    web = subprocess.Popen(
        [sys.executable, "-m", "vt_tui", "web", "--port", str(closed_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert web.stdout is not None and "starting the embedded model" in web.stdout.readline()
        deadline = time.monotonic() + 10
        while not (children := psutil.Process(web.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.05)
        (server,) = children
        web.send_signal(signal.SIGINT)
        assert web.wait(30) == ExitCode.CANCELLED
        assert "Traceback" not in web.stderr.read()
        psutil.wait_procs([server], timeout=10)
        assert not server.is_running()
    finally:
        web.kill()
        web.wait()
