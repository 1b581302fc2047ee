"""A reasoning-style reply from the real llama.cpp server (the embedded llama-cpp-python on SmolLM2-135M-Instruct),
through the whole app: the thinking shown and folded, the answer clean, both stored, the thinking not sent back.

SmolLM2 does not think by itself, so every chat request carries a GBNF ``grammar`` (llama-cpp-python's request
field) that makes the reply open with a ``<think>`` block and answer after it: the inline form llama.cpp sends
without a reasoning format. Everything else is the app's own path: the real server's SSE, the endpoint's
splitter, the session, the store and the chat log.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from vt_tui.core.endpoint import Endpoint
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage
from vt_tui.ui.widgets.composer import Composer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"),
]
# A thought of 8-120 characters on one line, then an answer: llama.cpp generates nothing the grammar refuses.
THINK_FIRST = r"""
root ::= "<think>\n" thought "\n</think>\n\n" answer
thought ::= [^<\n]{8,120}
answer ::= [^<]{1,160}
"""


async def test_the_real_server_thinks_first_and_the_app_folds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[list[dict[str, Any]]] = []
    request_params, shape_messages = Endpoint.request_params, Endpoint.shape_messages

    def with_grammar(self: Endpoint, params: dict[str, Any]) -> dict[str, Any]:
        return {**request_params(self, params), "grammar": THINK_FIRST}

    def recorded(self: Endpoint, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        shaped = shape_messages(self, messages)
        sent.append(shaped)
        return shaped

    monkeypatch.setattr(Endpoint, "request_params", with_grammar)
    monkeypatch.setattr(Endpoint, "shape_messages", recorded)
    app = VtApp(Settings(temperature=0, max_tokens=120, data_dir=tmp_path, tools="off"))
    async with app.run_test(size=(100, 30)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 90)
        for question in ("What is the capital of France?", "And of Italy?"):
            app.query_one(Composer).load_text(question)
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        first, second = app.query(AssistantMessage)
        print(f"\n[embedded] thought {first.thinking.text if first.thinking else None!r} → answer {first.text!r}")
        assert first.thinking is not None and len(first.thinking.text.strip()) >= 8
        assert not first.thinking.shown and str(first.thinking.head.render()).startswith("Thought for ")
        assert first.text.strip() and "<think>" not in first.text and "</think>" not in first.text
        assert "tok/s" in str(first.footer.render())
        assert second.thinking is not None and second.text.strip() and "<think>" not in second.text
    turns = Store(tmp_path / "conversations.sqlite3").turns(1)
    assert turns[0].thinking.strip() == first.thinking.text.strip() and turns[0].assistant_text == first.text
    assert turns[0].stats["thinking_tokens"] > 0 and turns[0].stats["thinking_s"] > 0
    # The second request carries the first answer, never its thinking.
    history = json.dumps(sent[-1])
    assert first.text.strip()[:40] in history and turns[0].thinking.strip() not in history
    assert "<think>" not in history
