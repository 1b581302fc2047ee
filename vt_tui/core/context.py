"""The context window's limit: what to do over it (the ``context_strategy`` vocabulary), how big it is, and where
that came from.

The limit comes, first found wins, from the ``context_window`` setting, from what vt-tui knows of a server it
started (the embedded one's ``n_ctx``), from ``max_model_len`` in ``/v1/models`` (vLLM, SGLang), or from the
routes the engine's profile lists (:attr:`EngineProfile.context_routes`: llama-server's ``/props`` and ``/slots``,
Ollama's ``/api/ps`` and ``/api/show``). The readers of each answer live here, and only here: the GPU pane reads
the engines' context figures with them too. Counting, fitting and compacting are :mod:`vt_tui.core.window`'s.

Only the standard library at import: :mod:`vt_tui.settings` reads :class:`ContextStrategy` on the path of
``vt-tui --version``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vt_tui.core.endpoint import Endpoint

log = logging.getLogger(__name__)

SIDE_ROUTES_OFF = (403, 404, 405, 501)  # a route the server does not have or has turned off (--no-slots: 501)
OLLAMA_DEFAULT = "Ollama's default num_ctx (4,096, or more by VRAM on newer versions; OLLAMA_CONTEXT_LENGTH)"


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


async def _answer(endpoint: Endpoint, route: str, model: str) -> tuple[int, Any]:
    url = endpoint.root_url + route
    if route == "/api/show":
        return await endpoint.post_json(url, {"model": model})
    return await endpoint.fetch(url)


def _read_route(route: str, body: Any, model: str) -> ContextLimit | None:
    """The limit in one route's answer, None when it does not say."""
    if route == "/props" and isinstance(body, Mapping):
        n = props_context(body)
        return ContextLimit(n, "n_ctx in llama-server's /props") if n else None
    if route == "/slots" and isinstance(body, list):
        sizes = [n for slot in body if isinstance(slot, Mapping) and (n := slot_context(slot))]
        return ContextLimit(min(sizes), "n_ctx of llama-server's slots (/slots)") if sizes else None
    if route == "/api/ps" and isinstance(body, Mapping):
        entries = [e for e in body.get("models") or () if isinstance(e, Mapping)]
        for entry in entries:
            if model in (entry.get("name"), entry.get("model")) and (n := ps_context(entry)):
                return ContextLimit(n, f"the num_ctx Ollama runs {model} with (/api/ps)")
        return None
    if route == "/api/show" and isinstance(body, Mapping):
        num_ctx, trained = show_context(body)
        if num_ctx:
            return ContextLimit(num_ctx, f"num_ctx in {model}'s Modelfile (/api/show); asked again once loaded", False)
        trained_note = f"; trained for {trained:,}" if trained else ""
        log.info("Ollama: %s sets no num_ctx (%s%s); known once loaded", model, OLLAMA_DEFAULT, trained_note)
    return None


async def probe_limit(endpoint: Endpoint, model: str) -> ContextLimit | None:
    """What the server says its window is for ``model``: the listing first, then the profile's routes (a GET each,
    short timeouts). None when it does not say (LMDeploy, LLaMA-Factory, OpenAI): the ``context_window`` setting
    is then the only way to know."""
    from vt_tui.core.errors import EndpointError

    listed = listing_context(endpoint.listing, model)
    if listed:
        return ContextLimit(listed, f"max_model_len of {model} in /v1/models")
    for route in endpoint.profile.context_routes:
        try:
            status, body = await _answer(endpoint, route, model)
        except EndpointError as exc:
            log.info("context window: %s did not answer (%s)", route, exc.message)
            continue
        found = _read_route(route, body, model) if status == 200 else None
        if found is not None:
            return found
    return None
