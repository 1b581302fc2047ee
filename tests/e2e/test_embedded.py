"""End to end on the real embedded default: llama-cpp-python's server on SmolLM2-135M-Instruct."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vt_tui.core.events import TextDelta, TurnFinished
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession
from vt_tui.engines.connect import connect
from vt_tui.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
VT_TUI = [sys.executable, "-m", "vt_tui"]
QUESTION = "What is the capital of France?"


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VT_TUI, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def test_ask_answers_paris() -> None:
    result = run_cli("ask", "--temperature", "0", "--max-tokens", "40", QUESTION)
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "llama" not in result.stdout.lower() and "llama_model_loader" not in result.stderr, "llama.cpp noise leaked"


def test_ask_json_events_parse() -> None:
    result = run_cli("ask", "--json", "--temperature", "0", "--max-tokens", "40", QUESTION)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["type"] == "TurnStarted" and events[0]["endpoint"].startswith("embedded: SmolLM2")
    assert events[-1]["type"] == "TurnFinished"
    text = "".join(e["text"] for e in events if e["type"] == "TextDelta")
    assert text == events[-1]["text"] and "Paris" in text
    stats = events[-1]["stats"]
    assert stats["tokens"] > 0 and stats["tokens_source"] == "counted" and stats["tok_per_s"] > 0


def test_ask_reads_stdin_and_fails_clearly_on_bad_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"GGUF but not really")
    result = subprocess.run(
        [*VT_TUI, "ask", "--gguf", str(bogus), "--startup-timeout", "60"],
        input=QUESTION,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "embedded server exited" in lines[0] and "embedded-server.log" in lines[0]
    assert "Traceback" not in result.stderr


def _server_child(proc: subprocess.Popen, timeout: float = 60) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(proc.pid).children(recursive=True):
            if "vt_tui.engines.serve_child" in " ".join(child.cmdline()):
                return child
        time.sleep(0.1)
    raise AssertionError("the embedded server never started")


def _wait_gone(child: psutil.Process, timeout: float = 10) -> None:
    try:
        child.wait(timeout)
    except psutil.TimeoutExpired:
        child.kill()
        raise AssertionError(f"embedded server {child.pid} outlived vt-tui") from None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_no_orphan_server_when_vt_tui_dies(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*VT_TUI, "ask", "--max-tokens", "2000", "Write a very long essay about the history of Europe."],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    child = _server_child(proc)
    time.sleep(1.5)  # let it start answering
    proc.send_signal(sig)
    proc.wait(15)
    _wait_gone(child)
    if sig == signal.SIGINT:
        assert proc.returncode == 130


async def test_session_keeps_one_connection_and_context() -> None:
    connection = await connect(Settings(), None)
    try:
        session = ChatSession(connection.endpoint, params=GenerationParams(temperature=0, max_tokens=30))
        first = [e async for e in session.run_turn(QUESTION)]
        assert isinstance(first[-1], TurnFinished) and "Paris" in first[-1].text
        assert any(isinstance(e, TextDelta) for e in first)
        second = [e async for e in session.run_turn("Repeat the name of that city once.")]
        assert isinstance(second[-1], TurnFinished) and second[-1].text.strip()
        server = psutil.Process(connection.server.pid)
        sockets = [c for c in server.net_connections() if c.status == psutil.CONN_ESTABLISHED]
        assert len(sockets) == 1, sockets
    finally:
        await connection.aclose()
    await asyncio.sleep(0)
    assert not psutil.pid_exists(server.pid) or server.status() == psutil.STATUS_ZOMBIE
