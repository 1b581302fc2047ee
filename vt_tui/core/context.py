"""The context window's limit: what to do over it (the ``context_strategy`` vocabulary), how big it is, and where
that came from.

The limit comes, first found wins, from the ``context_window`` setting, from what vt-tui knows of a server it
started (the embedded one's ``n_ctx``), from ``max_model_len`` in ``/v1/models`` (vLLM, SGLang), or from the
routes the engine's profile lists (:attr:`EngineProfile.context_routes`: llama-server's ``/props`` and ``/slots``,
Ollama's ``/api/ps`` and ``/api/show``). The readers of each answer live here, and only here: the GPU pane reads
the engines' context figures with them too. Asking the server, counting, fitting and compacting are
:mod:`vt_tui.core.window`'s.

Only the standard library at import: :mod:`vt_tui.settings` reads :class:`ContextStrategy` on the path of
``vt-tui --version``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SIDE_ROUTES_OFF = (403, 404, 405, 501)  # a route the server does not have or has turned off (--no-slots: 501)


class ContextStrategy(StrEnum):
    """What to do with a message that does not fit (the ``context_strategy`` setting)."""

    ASK = "ask"  # the app asks (drop, compact or edit); ``vt-tui ask`` fails with one line
    TRUNCATE = "truncate"  # drop the oldest turns until it fits
    COMPACT = "compact"  # summarise the earlier turns, then send


# the limit ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextLimit:
    """The window in tokens and where that came from, in words (``vt-tui doctor`` shows both). ``settled`` False:
    a figure to ask again after the next turn (Ollama says what it uses only once the model is loaded)."""

    tokens: int
    source: str
    settled: bool = True


def positive(value: Any) -> int | None:
    """``value`` when it is a whole number above 0 (what engines send for a size), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def listing_context(models: Sequence[Mapping[str, Any]], model: str | None = None) -> int | None:
    """``max_model_len`` from ``/v1/models`` entries (vLLM, SGLang): ``model``'s, else the largest."""
    lengths = {
        str(m.get("id")): n for m in models if isinstance(m, Mapping) and (n := positive(m.get("max_model_len")))
    }
    if model in lengths:
        return lengths[model]
    return max(lengths.values()) if lengths else None


def props_context(props: Mapping[str, Any]) -> int | None:
    """The window per slot from llama-server's ``GET /props`` (``default_generation_settings.n_ctx``, or ``n_ctx``)."""
    settings = props.get("default_generation_settings")
    return positive(settings.get("n_ctx") if isinstance(settings, Mapping) else props.get("n_ctx"))


def slot_context(slot: Mapping[str, Any]) -> int | None:
    """One llama-server slot's window, from ``GET /slots``."""
    return positive(slot.get("n_ctx"))


def ps_context(entry: Mapping[str, Any]) -> int | None:
    """The window one model in Ollama's ``GET /api/ps`` runs with (``context_length``: what it really uses)."""
    return positive(entry.get("context_length"))


def show_context(show: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """From Ollama's ``POST /api/show``: the ``num_ctx`` its Modelfile sets (None: Ollama's default applies) and
    the window the model was trained with (``model_info``'s ``<architecture>.context_length``)."""
    num_ctx = None
    for line in str(show.get("parameters") or "").splitlines():
        name, _, value = line.partition(" ")
        if name == "num_ctx" and value.strip().isdigit():
            num_ctx = positive(int(value.strip()))
    info = show.get("model_info")
    trained = None
    if isinstance(info, Mapping):
        trained = next((positive(v) for k, v in info.items() if str(k).endswith(".context_length")), None)
    return num_ctx, trained
