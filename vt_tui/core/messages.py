"""Building the message list for a request, within each engine's role rules."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from vt_tui.core.profiles import EngineProfile, ThinkingReplay
from vt_tui.core.reasoning import CLOSE, OPEN

log = logging.getLogger(__name__)
Message = dict[str, Any]

SYSTEM_ROLES = ("system", "developer")  # developer is OpenAI's newer name; strict engines reject it (422)
USER_SLOT = ("user", "tool")  # LLaMA-Factory: a tool result takes the user's turn
ASSISTANT_SLOT = ("assistant", "function")


def build(system: str | None, history: Iterable[Message], profile: EngineProfile) -> list[Message]:
    """System prompt first, then the history; shaped to the engine's role rules."""
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    messages.extend(history)
    return shape(messages, profile)


def assistant_turn(answer: str, thinking: str, profile: EngineProfile) -> Message:
    """An earlier reply as it goes back to the model: the answer alone, unless the engine's profile says its
    template reads earlier thinking (:class:`~vt_tui.core.profiles.ThinkingReplay`)."""
    replay = profile.replay_thinking
    if not thinking or replay is ThinkingReplay.NEVER:
        return {"role": "assistant", "content": answer}
    if replay is ThinkingReplay.INLINE:
        return {"role": "assistant", "content": f"{OPEN}{thinking}{CLOSE}\n\n{answer}"}
    return {"role": "assistant", "content": answer, "reasoning_content": thinking}


def shape(messages: list[Message], profile: EngineProfile) -> list[Message]:
    """The messages as this engine accepts them (a new list; the input is not changed)."""
    if profile.string_content:
        messages = [{**m, "content": ""} if m.get("content") is None else m for m in messages]
    return enforce_alternation(messages) if profile.strict_alternation else messages


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a multimodal list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return [dict(p) for p in content]
    return [{"type": "text", "text": text_of(content)}] if text_of(content) else []


def _join(first: Any, second: Any) -> Any:
    """Two contents as one: text joined by a blank line; multimodal parts kept in order."""
    if isinstance(first, list) or isinstance(second, list):
        return _parts(first) + ([{"type": "text", "text": "\n\n"}] if first and second else []) + _parts(second)
    a, b = text_of(first), text_of(second)
    return f"{a}\n\n{b}" if a and b else a or b


def _slot(role: str) -> str:
    return "user" if role in USER_SLOT else "assistant"


def enforce_alternation(messages: list[Message]) -> list[Message]:
    """One leading system message, then user/assistant alternation starting and ending with the user.

    What LLaMA-Factory's API checks (``api/chat.py``): after an optional first system message, an odd number
    of messages; user or tool at even positions, assistant or function at odd ones. So, and each change is
    logged, never silent:

    * every system (or developer) message is merged into one leading system message;
    * consecutive messages of one slot are merged: text joined by a blank line, tool calls kept; a tool result
      next to a user message becomes user text;
    * a leading assistant message is folded into the system prompt (the engine needs the user first);
    * a trailing assistant message is dropped (the engine answers the last user message);
    * null content becomes "" (the engine 500s on null user content, or assistant content without tool calls);
    * with nothing but a system prompt, the prompt is sent as the user message.

    Applying it twice changes nothing the second time.
    """
    systems = [m for m in messages if m.get("role") in SYSTEM_ROLES]
    body = [m for m in messages if m.get("role") not in SYSTEM_ROLES]
    system_text = "\n\n".join(t for t in (text_of(m.get("content")) for m in systems) if t)
    if len(systems) > 1:
        log.info("merged %d system messages into one (engine allows one, first)", len(systems))
    elif systems and messages[0] is not systems[0]:
        log.info("moved the system message to the front (engine allows it first only)")
    if any(m.get("role") == "developer" for m in systems):
        log.info("sent the developer message as the system message (engine has no developer role)")

    out: list[Message] = []
    for original in body:
        msg = dict(original)
        role = msg.get("role")
        if msg.get("content") is None and not (role in ASSISTANT_SLOT and msg.get("tool_calls")):
            msg["content"] = ""
        prev = out[-1] if out else None
        if prev is not None and _slot(prev["role"]) == _slot(role):
            if prev["role"] != role:  # a tool result and a user message: one user message
                prev["content"] = _join(_as_user_text(prev), _as_user_text(msg))
                prev["role"] = "user"
                prev.pop("tool_call_id", None)
                log.info("merged a tool result and a user message into one user message (engine needs alternation)")
                continue
            prev["content"] = _join(prev.get("content"), msg.get("content"))
            if msg.get("tool_calls"):
                prev["tool_calls"] = [*(prev.get("tool_calls") or []), *msg["tool_calls"]]
            log.info("merged two consecutive %s messages (engine needs alternation)", role)
            continue
        if prev is None and _slot(role) == "assistant":
            text = text_of(msg.get("content"))
            if text:
                system_text = _join(system_text, f"Earlier in this conversation, the assistant said:\n{text}")
            log.info("folded a leading assistant message into the system prompt (engine needs the user first)")
            continue
        out.append(msg)
    while out and _slot(out[-1]["role"]) == "assistant":
        out.pop()
        log.info("dropped a trailing assistant message (engine needs the last message from the user)")
    if not out and system_text:
        log.info("sent the system prompt as the user message (engine needs one user message)")
        return [{"role": "user", "content": system_text}]
    return ([{"role": "system", "content": system_text}] if system_text else []) + out


def _as_user_text(msg: Message) -> Any:
    if msg.get("role") == "tool":
        return f"Tool result:\n{text_of(msg.get('content'))}"
    return msg.get("content")
