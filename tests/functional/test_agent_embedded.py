"""Agent turns against the REAL embedded model (llama-cpp-python on SmolLM2-135M-Instruct).

The model is far too small to use tools well, so the content is best-effort; the handling is strict: every turn
ends in TurnFinished (or a typed TurnFailed from the endpoint, never an exception), every tool call that starts
also finishes, and no error carries a traceback.
"""

from __future__ import annotations

import importlib.util

import pytest

from vt_tui.core.agent import AgentConfig, ToolRegistry
from vt_tui.core.events import ToolCallFinished, ToolCallStarted, TurnFailed, TurnFinished
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession
from vt_tui.engines.connect import connect
from vt_tui.settings import Settings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"),
]

PROMPTS = [
    "What is 17 * 23? Use the calculator tool.",
    'Call the calculator with {"expression": "2**10"} and tell me the result.',
]


def check(events: list) -> None:
    assert events, "no events"
    last = events[-1]
    assert isinstance(last, TurnFinished), last
    started = {e.call_id for e in events if isinstance(e, ToolCallStarted)}
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert started == {e.call_id for e in finished}, "every call that starts must finish"
    for event in finished:
        assert event.status in ("ok", "error"), event
        assert "Traceback" not in (event.error or "")
    assert last.stats.steps is not None and 1 <= last.stats.steps <= 3


@pytest.mark.parametrize("mode", ["text", "native"])
async def test_embedded_model_agent_turns_end_cleanly(mode: str) -> None:
    connection = await connect(Settings())
    try:
        registry = ToolRegistry(builtins=True, plugins=None)
        session = ChatSession(
            connection.endpoint,
            params=GenerationParams(temperature=0, max_tokens=96),
            agent=AgentConfig(mode=mode, max_steps=3, registry=registry),
        )
        for prompt in PROMPTS:
            events = [event async for event in session.run_turn(prompt)]
            failed = [e for e in events if isinstance(e, TurnFailed)]
            assert not failed, failed[0].error
            check(events)
    finally:
        await connection.aclose()
