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


def every_turn(turns: Sequence[Turn], branches: Sequence[Sequence[Turn]]) -> list[Turn]:
    """Each turn of ``turns`` and ``branches`` once, in the order they came."""
    return sorted({t.id: t for branch in (turns, *branches) for t in branch}.values(), key=lambda t: t.id)


def to_markdown(info: ConversationInfo | None, turns: Sequence[Turn], branches: Sequence[Sequence[Turn]] = ()) -> str:
    """The branch on screen (``turns``); with ``branches`` (every branch, :meth:`Tree.branches`), each in full under a
    heading of its own, the one on screen said."""
    title = info.title if info and info.title else "Conversation"
    lines = [f"# {title}", ""]
    if info:
        lines += [f"- model: `{info.model}`", f"- endpoint: `{info.endpoint}`"]
    energy = total(t.stats for t in every_turn(turns, branches))
    if energy.measured:
        lines.append(f"- GPU energy: {energy.wh:.3f} Wh over {energy.measured} measured turns")
    if len(lines) > 2:
        lines.append("")
    if not branches:
        return "\n".join(lines + _markdown_turns(turns, "##"))
    shown = [t.id for t in turns]
    for n, branch in enumerate(branches, 1):
        on_screen = " (on screen)" if [t.id for t in branch] == shown else ""
        lines += [f"## Branch {n} of {len(branches)}{on_screen}", "", *_markdown_turns(branch, "###")]
    return "\n".join(lines)


def _markdown_turns(turns: Sequence[Turn], heading: str) -> list[str]:
    lines: list[str] = []
    for turn in turns:
        lines += [f"{heading} You", "", turn.user_text, ""]
        lines += [f"> 📎 {attachment.describe()}" for attachment in turn.attachments]
        lines += [""] if turn.attachments else []
        lines += [f"{heading} Assistant ({turn.model})", ""]
        if turn.thinking.strip():  # collapsed, as GitHub and most Markdown viewers draw <details>
            summary = stats_thought_line(turn.stats)
            thinking = turn.thinking.strip().replace("</details>", "&lt;/details&gt;")  # cannot end the block early
            lines += ["<details>", f"<summary>{summary}</summary>", "", thinking, "", "</details>", ""]
        lines += [turn.assistant_text, ""]
        if turn.status is not TurnStatus.OK:
            lines += [f"> **{turn.status}**: {turn.error or ''}", ""]
    return lines


def to_json(
    info: ConversationInfo | None,
    turns: Sequence[Turn],
    tool_calls: Sequence[dict[str, Any]] = (),
    branches: Sequence[Sequence[Turn]] = (),
) -> str:
    """``turns``: the branch on screen, each with its ``parent_id``. With ``branches`` (every branch), ``turns`` holds
    every turn once, in the order they came, ``branches`` the turn ids of each branch (root to leaf) and
    ``on_screen`` those of the branch on screen. ``tool_calls``: those of the turns exported."""
    exported = every_turn(turns, branches) if branches else list(turns)
    ids = {t.id for t in exported}
    data: dict[str, Any] = {
        "conversation": asdict(info) if info else None,
        "turns": [asdict(t) | {"attachments": [a.as_json() for a in t.attachments]} for t in exported],
        "tool_calls": [call for call in tool_calls if call.get("turn_id") in ids],
        "energy": total(t.stats for t in exported).to_dict(),
    }
    if branches:
        data["branches"] = [[t.id for t in branch] for branch in branches]
        data["on_screen"] = [t.id for t in turns]
    return json.dumps(data, ensure_ascii=False, indent=2)
