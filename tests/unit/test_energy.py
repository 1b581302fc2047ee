"""Energy over time: per conversation (stored turns included) and per session, and in exports."""

from __future__ import annotations

import json

from vt_tui.core.energy import EnergyTally, total
from vt_tui.core.events import TurnStats
from vt_tui.core.export import to_json, to_markdown
from vt_tui.core.store import ConversationInfo, Turn


def stats(energy: float | None) -> dict:
    return {"ttft_s": 0.1, "duration_s": 2.0, "tokens": 100, "tokens_source": "server", "energy_j": energy}


def test_totals_count_measured_turns_only() -> None:
    result = total([stats(1800.0), stats(None), None, TurnStats(0.1, 1.0, 10, "server", energy_j=1800.0)])
    assert (result.joules, result.measured, result.turns, result.wh) == (3600.0, 2, 4, 1.0)
    assert result.to_dict() == {"wh": 1.0, "joules": 3600.0, "measured_turns": 2}


def test_tally_per_conversation_and_for_the_session() -> None:
    tally = EnergyTally()
    tally.open(7, [stats(720.0), stats(None)])  # an opened conversation brings what it already drew
    tally.add(7, stats(360.0))
    tally.add(None, stats(36.0))  # a new, not yet stored conversation
    assert tally.conversation(7).wh == 0.3 and tally.conversation(7).measured == 2
    assert tally.conversation(None).joules == 36.0
    assert (tally.session.joules, tally.session.measured) == (396.0, 2)  # this run only: 360 + 36


def test_exports_carry_the_conversations_energy() -> None:
    info = ConversationInfo(1, "t", "m", "http://e", 0.0, 1)
    turns = [Turn(1, "hi", "yo", status="ok", model="m", stats=stats(1800.0))]
    assert "- GPU energy: 0.500 Wh over 1 measured turns" in to_markdown(info, turns)
    assert json.loads(to_json(info, turns))["energy"] == {"wh": 0.5, "joules": 1800.0, "measured_turns": 1}
    assert "GPU energy" not in to_markdown(info, [Turn(2, "hi", stats=stats(None))])
