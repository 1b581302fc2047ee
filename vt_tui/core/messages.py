"""Building the message list for a request, within each engine's role rules."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from vt_tui.core.profiles import EngineProfile

log = logging.getLogger(__name__)
Message = dict[str, Any]


def build(system: str | None, history: Iterable[Message], profile: EngineProfile) -> list[Message]:
    """System prompt first, then the history; merged into strict alternation where the engine needs it."""
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    messages.extend(history)
    return enforce_alternation(messages) if profile.strict_alternation else messages


def enforce_alternation(messages: list[Message]) -> list[Message]:
    """One leading system message, then user/assistant alternation starting with user.

    Consecutive messages of one role are merged (text joined by a blank line); a leading assistant message
    is folded into the system prompt. Each change is logged, never silent.
    """
    systems = [m["content"] for m in messages if m["role"] == "system" and m.get("content")]
    out: list[Message] = [{"role": "system", "content": "\n\n".join(systems)}] if systems else []
    body = [m for m in messages if m["role"] != "system"]
    if len(systems) > 1:
        log.info("merged %d system messages into one (engine allows one)", len(systems))
    for msg in body:
        prev = out[-1] if out else None
        same_role = prev is not None and prev["role"] == msg["role"]
        if same_role and isinstance(prev.get("content"), str) and isinstance(msg.get("content"), str):
            prev["content"] = f"{prev['content']}\n\n{msg['content']}"
            log.info("merged two consecutive %s messages (engine needs alternation)", msg["role"])
            continue
        if msg["role"] == "assistant" and (prev is None or prev["role"] == "system"):
            log.info("dropped a leading assistant message (engine needs user first)")
            continue
        out.append(dict(msg))
    return out
