"""Energy over time: what the measured turns drew, per conversation and for this session, in Wh.

Turns carry `energy_j` in their stats (a TurnStats, or the dict the store keeps); a turn without a
GPU reading counts as unmeasured, not as zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

J_PER_WH = 3600.0


def energy_j(stats: Any) -> float | None:
    """A turn's energy from a TurnStats or a stored stats dict (None: not measured)."""
    value = stats.get("energy_j") if isinstance(stats, Mapping) else getattr(stats, "energy_j", None)
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True)
class EnergyTotal:
    """Joules over the measured turns, and how many turns there were and were measured."""

    joules: float = 0.0
    measured: int = 0
    turns: int = 0

    @property
    def wh(self) -> float:
        return self.joules / J_PER_WH

    def plus(self, stats: Any) -> EnergyTotal:
        energy = energy_j(stats)
        if energy is None:
            return EnergyTotal(self.joules, self.measured, self.turns + 1)
        return EnergyTotal(self.joules + energy, self.measured + 1, self.turns + 1)

    def to_dict(self) -> dict[str, float | int]:
        return {"wh": round(self.wh, 6), "joules": round(self.joules, 3), "measured_turns": self.measured}


def total(stats: Iterable[Any]) -> EnergyTotal:
    """The energy of a conversation's turns (their stats, stored or live)."""
    result = EnergyTotal()
    for item in stats:
        result = result.plus(item)
    return result


@dataclass
class EnergyTally:
    """Running totals: one per conversation (seeded with its stored turns when opened) and one for the session
    (this run of vt-tui, every conversation together)."""

    session: EnergyTotal = EnergyTotal()
    conversations: dict[int | None, EnergyTotal] = field(default_factory=dict)

    def open(self, conversation_id: int | None, stored: Iterable[Any] = ()) -> None:
        """Start counting a conversation from what its stored turns already drew."""
        self.conversations[conversation_id] = total(stored)

    def add(self, conversation_id: int | None, stats: Any) -> None:
        """A turn finished (or failed) with these stats."""
        self.conversations[conversation_id] = self.conversation(conversation_id).plus(stats)
        self.session = self.session.plus(stats)

    def conversation(self, conversation_id: int | None) -> EnergyTotal:
        return self.conversations.get(conversation_id, EnergyTotal())
