"""First turn of a fresh app: Enter pressed → the chat request reaches the server, in a real pty at 80×24.

Each run is a new process with an empty home, on the scripted server, with ``--tools off``. The prompt is
typed 0.7 s and Enter pressed 1 s after the status bar first says "idle", whatever still loads in the
background then (tools, LangChain, the GPU pane). The clock starts when Enter is written to the terminal and
stops when the server has the request. Baseline, same run: the time the server takes to see a request sent
from this process over a fresh connection (httpx). Goal: ≤ 50 ms in every run.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time

import httpx
from _common import ROOT, median, table
from _pty import PtyApp, fresh_env, with_bytecode

from tests.support.scripted_server import ScriptedServer

RUNS = 6
IDLE_MARKER = b" idle "  # the status bar's state, drawn once connected


def first_turn(server: ScriptedServer, env: dict[str, str]) -> tuple[float, float]:
    """(launch → idle, Enter → request) in seconds for one new process."""
    argv = [str(ROOT / ".venv/bin/vt-tui"), "--base-url", server.base_url, "--tools", "off"]
    with PtyApp(argv, env) as app:
        idle_at = app.wait_for(IDLE_MARKER)
        app.idle(0.7)
        app.type(b"Hello there")
        app.idle(0.3)
        before = len(server.chat_requests)
        app.type(b"\r")
        entered = time.perf_counter()
        app.until(lambda: len(server.chat_requests) > before, 30, "the request never came", poll=0.0005)
        return idle_at, time.perf_counter() - entered


def baseline(server: ScriptedServer) -> float:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.Client() as client:
        before = len(server.chat_requests)
        started = time.perf_counter()
        with client.stream("POST", server.base_url + "/chat/completions", json=body):
            while len(server.chat_requests) == before:
                time.sleep(0.0005)
            return time.perf_counter() - started


def main() -> None:
    with_bytecode(ROOT / "vt_tui")
    rows = []
    # Killing an app leaves its kept-alive connection reset: the server thread's tracebacks are noise here.
    with ScriptedServer() as server, contextlib.redirect_stderr(io.StringIO()):
        base = median([baseline(server) for _ in range(5)])
        for run in range(RUNS):
            with tempfile.TemporaryDirectory() as home:
                idle_at, latency = first_turn(server, fresh_env(home))
            rows.append((f"run {run + 1}", idle_at, latency * 1000))
    latencies = [row[2] for row in rows]
    rows.append(("median", median([row[1] for row in rows]), median(latencies)))
    rows.append(("worst", max(row[1] for row in rows[:RUNS]), max(latencies)))
    rows.insert(0, ("baseline: httpx request → server, same process", "–", base * 1000))
    table(
        f"First turn, fresh app, --tools off, 80×24 pty ({RUNS} new processes)",
        ("run", "launch → idle (s)", "Enter → request (ms)"),
        rows,
    )


if __name__ == "__main__":
    main()
