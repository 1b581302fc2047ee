"""Conversation export (Markdown and JSON) and the bits of replies users copy."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from vt_tui.core.energy import total
from vt_tui.core.reasoning import stats_thought_line
from vt_tui.core.store import ConversationInfo, Turn, TurnStatus

_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def last_code_block(text: str) -> str | None:
    """The body of the last fenced code block in ``text``; an unclosed final fence counts too."""
    blocks = _FENCE.findall(text)
    if blocks:
        return blocks[-1][1].rstrip("\n")
    tail = re.search(r"^(`{3,}|~{3,})[^\n]*\n(.*)\Z", text, re.MULTILINE | re.DOTALL)
    return tail.group(2).rstrip("\n") if tail else None


def to_markdown(info: ConversationInfo | None, turns: Sequence[Turn]) -> str:
    title = info.title if info and info.title else "Conversation"
    lines = [f"# {title}", ""]
    if info:
        lines += [f"- model: `{info.model}`", f"- endpoint: `{info.endpoint}`"]
    energy = total(t.stats for t in turns)
    if energy.measured:
        lines.append(f"- GPU energy: {energy.wh:.3f} Wh over {energy.measured} measured turns")
    if len(lines) > 2:
        lines.append("")
    for turn in turns:
        lines += ["## You", "", turn.user_text, ""]
        lines += [f"> 📎 {attachment.describe()}" for attachment in turn.attachments]
        lines += [""] if turn.attachments else []
        lines += [f"## Assistant ({turn.model})", ""]
        if turn.thinking.strip():  # collapsed, as GitHub and most Markdown viewers draw <details>
            summary = stats_thought_line(turn.stats)
            thinking = turn.thinking.strip().replace("</details>", "&lt;/details&gt;")  # cannot end the block early
            lines += ["<details>", f"<summary>{summary}</summary>", "", thinking, "", "</details>", ""]
        lines += [turn.assistant_text, ""]
        if turn.status is not TurnStatus.OK:
            lines += [f"> **{turn.status}**: {turn.error or ''}", ""]
    return "\n".join(lines)


def to_json(info: ConversationInfo | None, turns: Sequence[Turn], tool_calls: Sequence[dict[str, Any]] = ()) -> str:
    data = {
        "conversation": asdict(info) if info else None,
        "turns": [asdict(t) | {"attachments": [a.as_json() for a in t.attachments]} for t in turns],
        "tool_calls": list(tool_calls),
        "energy": total(t.stats for t in turns).to_dict(),
    }
    return json.dumps(data, ensure_ascii=False, indent=2)
