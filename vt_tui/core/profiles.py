"""Engine profiles: what each OpenAI-compatible server does differently, and how to tell them apart.

Detection reads what the server already sent with ``GET /v1/models`` (each model's ``owned_by`` and ``id``, the
``Server`` header) and, only when that leaves the engine open, one or two cheap ``GET`` probes of routes that one
engine alone answers. Every signal below was read in the engine's own source, not guessed:

=================  ===========================================================  ==============================
engine             ``/v1/models`` and headers                                   distinguishing route
=================  ===========================================================  ==============================
LLaMA-Factory      ``owned_by: "owner"`` (a ``Literal`` in its ``ModelCard``),  ``POST /v1/score/evaluation``
                   id from ``API_MODEL_NAME`` (default ``gpt-3.5-turbo``),      (``GET`` → 405); FastAPI
                   ``Server: uvicorn``                                          ``/openapi.json`` lists it
vLLM               ``owned_by: "vllm"``, ``root``/``max_model_len`` fields      ``GET /version`` →
                                                                                ``{"version": …}``
llama-server       ``owned_by: "llamacpp"``, ``meta`` (n_ctx_train, …),          ``/props``, ``/health``,
                   ``Server: llama.cpp``                                        ``/slots``, ``/metrics``
llama-cpp-python   ``owned_by: "me"``, ``Server: uvicorn``                      ``/openapi.json`` title
                                                                                "🦙 llama.cpp Python API"
Ollama             ``owned_by`` = the model's namespace (``library`` for        ``GET /api/version``,
                   official models), ids with a tag (``llama3.2:latest``),     ``GET /`` "Ollama is running"
                   no ``Server`` header (Go)
LMDeploy           ``owned_by: "lmdeploy"``, ``root``, ``permission``            ``/openapi.json`` lists
                                                                                ``/generate``, ``/get_ppl``
SGLang             ``owned_by: "sglang"`` (its ``ModelCard``), ``root``,
                   ``max_model_len``
OpenAI             ``owned_by`` ``openai`` / ``system`` / ``openai-internal``
=================  ===========================================================  ==============================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Engine(StrEnum):
    """The ``--engine`` values: auto (read from ``/v1/models``) or one profile's name."""

    AUTO = "auto"
    OPENAI = "openai"
    VLLM = "vllm"
    LLAMA_FACTORY = "llama-factory"
    LLAMA_CPP = "llama-cpp"  # llama-server or llama-cpp-python: the listing says which
    OLLAMA = "ollama"
    LMDEPLOY = "lmdeploy"
    SGLANG = "sglang"
    GENERIC = "generic"  # any other OpenAI-compatible server: no quirks assumed, tool calls as text


class ToolMode(StrEnum):
    """How a turn calls tools: the ``tools`` setting, and each engine's default. AUTO is a setting only (the
    engine's profile turns it into one of the others); OFF is plain streaming, no agent."""

    AUTO = "auto"
    NATIVE = "native"  # OpenAI tool_calls
    TEXT = "text"  # fenced tool blocks in the model's text (any server, any model)
    OFF = "off"


class Thinking(StrEnum):
    """The ``thinking`` setting: how much a reasoning model thinks before it answers. AUTO sends nothing (the
    model's and server's default); the others are sent the way the engine takes them (:class:`ThinkingSwitch`)."""

    AUTO = "auto"
    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ThinkingReplay(StrEnum):
    """Whether earlier turns' thinking goes back to the model with the history. NEVER for every engine vt-tui
    knows: their chat templates drop earlier thinking themselves (Qwen3, DeepSeek-R1) or never read it, and it
    costs context. A template that needs it reads it inline (LLaMA-Factory's reasoning templates with
    ``preserve_thinking``) or from the message's ``reasoning_content`` (Jinja templates that keep it)."""

    NEVER = "never"
    INLINE = "inline"  # ``<think>…</think>`` before the answer, in the assistant message's content
    FIELD = "field"  # the assistant message's ``reasoning_content``


@dataclass(frozen=True)
class ThinkingSwitch:
    """How one engine takes the ``thinking`` setting in a request (read in each engine's request model or docs).

    ``off``: the fields that turn thinking off (None: the engine has no per-request way); ``effort``: the field a
    level (low, medium, high) goes in, dotted for a nested one (None: levels cannot be sent); ``on``: fields sent
    with a level, to turn a template's thinking back on; ``note``: what to do instead, for doctor.
    """

    off: Mapping[str, Any] | None = None
    effort: str | None = None
    on: Mapping[str, Any] | None = None
    note: str = ""

    def fields(self, level: Thinking) -> dict[str, Any] | None:
        """The request fields for ``level``: {} for auto, None when this engine cannot be told."""
        if level is Thinking.AUTO:
            return {}
        if level is Thinking.OFF:
            return _copied(self.off) if self.off is not None else None
        if self.effort is None:
            return None
        out = _copied(self.on or {})
        *outer, name = self.effort.split(".")
        inner = out
        for key in outer:
            inner = inner.setdefault(key, {})
        inner[name] = level.value
        return out

    def describe(self, level: Thinking) -> str:
        """What a request carries for ``level``, in words (doctor); for auto, what off would send."""
        fields = self.fields(level)
        if fields is None:
            return f"thinking {level} cannot be sent: {self.note or 'this engine has no per-request switch'}"
        if level is Thinking.AUTO:
            off = self.fields(Thinking.OFF)
            then = f"--thinking off would send {_said(off)}" if off is not None else self.note
            return f"thinking auto: nothing sent (the model's default); {then}"
        return f"thinking {level}: sends {_said(fields)}"


def _said(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {json.dumps(value)}" for key, value in fields.items())


def _copied(fields: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(fields))


TEMPLATE_OFF = {"chat_template_kwargs": {"enable_thinking": False}}  # Qwen3-style templates' switch
TEMPLATE_ON = {"chat_template_kwargs": {"enable_thinking": True}}
NO_SWITCH = ThinkingSwitch(note="unknown engine: nothing is sent (start with --engine NAME if vt-tui knows it)")


# What the engine generates when a request has no max_tokens: None means "until the context is full". vt-tui
# always sends max_tokens; this is recorded so doctor and the docs can say why.
UNTIL_CONTEXT_END = None


@dataclass(frozen=True)
class EngineProfile:
    """Quirks of one engine. ``tool_calling`` is the default; the user's ``tools`` setting overrides it."""

    name: Engine  # the --engine value
    title: str = ""  # the server, for people: "vLLM", "llama.cpp (llama-server)"
    tool_calling: ToolMode = ToolMode.NATIVE
    stream_tool_calls: bool = True  # tool calls arrive in a streamed reply (else: only non-streamed)
    usage_in_stream: bool = True  # honours stream_options.include_usage
    metrics_path: str | None = None  # Prometheus text, relative to the server root (not /v1)
    max_tokens_default: int | None = UNTIL_CONTEXT_END  # what it does when max_tokens is omitted
    strict_alternation: bool = False  # one leading system message, then user/assistant/user/… ending on user
    vision: bool = False  # accepts image_url parts (with a vision model loaded)
    drop_zero_penalties: bool = False  # presence_penalty 0 breaks some servers
    string_content: bool = False  # assistant content must be a string, "" next to tool_calls (null is refused)
    ignored_params: tuple[str, ...] = ()  # accepted and silently ignored
    notes: tuple[str, ...] = ()  # what vt-tui does about this engine, said by doctor
    tool_reason: str = ""  # why tool_calling is what it is
    # The context window (read by vt_tui.core.context): routes that say it, beyond max_model_len in /v1/models,
    # asked in order; the route and text field that count tokens with the model's own tokenizer; and whether a
    # prompt over the window is cut silently instead of refused.
    context_routes: tuple[str, ...] = ()
    tokenize: tuple[str, str] | None = None
    truncates_silently: bool = False
    thinking: ThinkingSwitch = NO_SWITCH  # how the thinking setting is sent
    replay_thinking: ThinkingReplay = ThinkingReplay.NEVER  # earlier turns' thinking sent back with the history


LLAMA_FACTORY = EngineProfile(
    Engine.LLAMA_FACTORY,
    "LLaMA-Factory",
    stream_tool_calls=False,
    usage_in_stream=False,
    max_tokens_default=1024,
    strict_alternation=True,
    drop_zero_penalties=True,
    ignored_params=("stop", "seed", "tool_choice", "response_format", "stream_options"),
    notes=(
        "history merged into strict user/assistant alternation (logged)",
        "presence_penalty 0 not sent (the server 500s on it)",
        "max_tokens always sent (server default 1024)",
        "tool calls only in non-streamed replies",
        "one reconnect when a 500 dropped the kept-alive connection",
    ),
    tool_reason="LLaMA-Factory returns tool_calls only in non-streamed replies (streaming them is refused)",
    thinking=ThinkingSwitch(  # its ChatCompletionRequest (0.9.5) has no such field; extra fields are dropped
        note="LLaMA-Factory has no per-request switch: start its API with enable_thinking: false in the config",
    ),
)
VLLM = EngineProfile(
    Engine.VLLM,
    "vLLM",
    metrics_path="/metrics",
    vision=True,
    tool_reason="vLLM streams OpenAI tool_calls (started with --enable-auto-tool-choice --tool-call-parser NAME)",
    tokenize=("/tokenize", "prompt"),
    thinking=ThinkingSwitch(TEMPLATE_OFF, "reasoning_effort", TEMPLATE_ON),
)
LLAMA_SERVER = EngineProfile(
    Engine.LLAMA_CPP,
    "llama.cpp (llama-server)",
    metrics_path="/metrics",
    notes=("max_tokens always sent (its default: no limit)", "/metrics only when started with --metrics"),
    tool_reason="llama-server streams OpenAI tool_calls (with --jinja and a model whose template has tools)",
    context_routes=("/props", "/slots"),
    tokenize=("/tokenize", "content"),
    # It merges a request's chat_template_kwargs over --chat-template-kwargs (with --jinja, its default).
    thinking=ThinkingSwitch(TEMPLATE_OFF, "chat_template_kwargs.reasoning_effort", TEMPLATE_ON),
)
LLAMA_CPP_PYTHON = EngineProfile(
    Engine.LLAMA_CPP,
    "llama-cpp-python",
    tool_calling=ToolMode.TEXT,
    stream_tool_calls=False,
    usage_in_stream=False,
    string_content=True,  # its request model: 500 for an assistant tool-call message with content null
    tool_reason="llama-cpp-python returns tool_calls only for a forced tool_choice, and streams nothing with 'auto'",
    tokenize=("/extras/tokenize/count", "input"),
    thinking=ThinkingSwitch(note="llama-cpp-python takes no thinking switch: serve a model or chat format without it"),
)
OLLAMA = EngineProfile(
    Engine.OLLAMA,
    "Ollama",
    vision=True,
    notes=("max_tokens always sent; the context is the model's num_ctx (Ollama trims longer prompts silently)",),
    tool_reason="Ollama returns OpenAI tool_calls for models whose template has tools",
    context_routes=("/api/ps", "/api/show"),
    truncates_silently=True,
    thinking=ThinkingSwitch({"reasoning_effort": "none"}, "reasoning_effort"),  # its /v1 takes "none" for off
)
LMDEPLOY = EngineProfile(
    Engine.LMDEPLOY,
    "LMDeploy",
    metrics_path="/metrics",
    vision=True,
    tool_reason="LMDeploy streams OpenAI tool_calls (started with --tool-call-parser NAME)",
    thinking=ThinkingSwitch({"enable_thinking": False}, "reasoning_effort", {"enable_thinking": True}),
)
SGLANG = EngineProfile(
    Engine.SGLANG,
    "SGLang",
    metrics_path="/metrics",
    vision=True,
    notes=("/metrics only when started with --enable-metrics",),
    tool_reason="SGLang streams OpenAI tool_calls (started with --tool-call-parser NAME)",
    tokenize=("/tokenize", "prompt"),
    thinking=ThinkingSwitch(TEMPLATE_OFF, "reasoning_effort", TEMPLATE_ON),
)
OPENAI = EngineProfile(
    Engine.OPENAI,
    "OpenAI API",
    vision=True,
    tool_reason="the OpenAI API streams tool_calls",
    thinking=ThinkingSwitch({"reasoning_effort": "none"}, "reasoning_effort"),
)
GENERIC = EngineProfile(
    Engine.GENERIC,
    "OpenAI-compatible server",
    tool_calling=ToolMode.TEXT,
    tool_reason="unknown engine: tool calls written as text work with any server and model",
)

PROFILES: dict[Engine, EngineProfile] = {
    p.name: p for p in (OPENAI, VLLM, LLAMA_FACTORY, LLAMA_SERVER, OLLAMA, LMDEPLOY, SGLANG, GENERIC)
}


@dataclass(frozen=True)
class Detection:
    """Which profile, and the signals that chose it (for the log and ``vt-tui doctor``)."""

    profile: EngineProfile
    reasons: tuple[str, ...]
    probed: tuple[str, ...] = ()  # routes fetched beyond /v1/models

    def describe(self) -> str:
        return f"{self.profile.name} ({self.profile.title}): {'; '.join(self.reasons)}"


def _owners(models: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(m.get("owned_by", "")).lower() for m in models}


def _ids(models: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(m.get("id", "")) for m in models]


def _server(headers: Mapping[str, str]) -> str:
    return (headers.get("server") or headers.get("Server") or "").lower()


def from_listing(models: Sequence[Mapping[str, Any]], headers: Mapping[str, str]) -> Detection | None:
    """The engine when ``/v1/models`` and its headers say it plainly; None when a probe is needed."""
    server, owners = _server(headers), _owners(models)
    if "llama.cpp" in server:
        return Detection(LLAMA_SERVER, ("Server: llama.cpp header",))
    if "llamacpp" in owners:
        return Detection(LLAMA_SERVER, ('owned_by "llamacpp"',))
    if "vllm" in owners:
        return Detection(VLLM, ('owned_by "vllm"',))
    if "lmdeploy" in owners:
        return Detection(LMDEPLOY, ('owned_by "lmdeploy"',))
    if "sglang" in owners:
        return Detection(SGLANG, ('owned_by "sglang"',))
    if "owner" in owners:  # LLaMA-Factory's ModelCard: owned_by is Literal["owner"]
        why = 'owned_by "owner"' + (", Server: uvicorn" if "uvicorn" in server else "")
        return Detection(LLAMA_FACTORY, (why,))
    if "me" in owners and "uvicorn" in server:  # llama-cpp-python's get_models
        return Detection(LLAMA_CPP_PYTHON, ('owned_by "me", Server: uvicorn',))
    if owners & {"openai", "system", "openai-internal"}:
        return Detection(OPENAI, (f"owned_by {sorted(owners & {'openai', 'system', 'openai-internal'})[0]!r}",))
    return None


def guess(models: Sequence[Mapping[str, Any]], headers: Mapping[str, str]) -> Detection:
    """Weaker hints when no probe settled it: GGUF file ids, Ollama's ``name:tag`` ids."""
    server, owners, ids = _server(headers), _owners(models), _ids(models)
    if any(i.lower().endswith(".gguf") for i in ids):
        if "uvicorn" in server:
            return Detection(LLAMA_CPP_PYTHON, ("model ids are .gguf files, Server: uvicorn",))
        return Detection(LLAMA_SERVER, ("model ids are .gguf files",))
    if ids and not server and ("library" in owners or all(":" in i for i in ids)):
        return Detection(OLLAMA, ('ids with a ":tag", owned_by "library", no Server header',))
    return Detection(GENERIC, ("no engine signature in /v1/models or its headers",))


def probe_plan(headers: Mapping[str, str]) -> tuple[str, ...]:
    """Routes (relative to the server root) worth one GET each when the listing did not settle it, in order.

    FastAPI servers (uvicorn) describe themselves in ``/openapi.json``; a Go server with no ``Server`` header
    is most likely Ollama, which answers ``/api/version``; ``/version`` is vLLM's.
    """
    if "uvicorn" in _server(headers):
        return ("/openapi.json", "/version")
    return ("/api/version", "/version")


def from_probe(path: str, status: int, body: Any) -> Detection | None:
    """Read one probe's answer (``body`` parsed JSON, or text)."""
    if status != 200:
        return None
    if path == "/api/version" and isinstance(body, dict) and "version" in body:
        return Detection(OLLAMA, (f"GET /api/version answered version {body['version']}",), (path,))
    if path == "/version" and isinstance(body, dict) and "version" in body:
        return Detection(VLLM, (f"GET /version answered version {body['version']}",), (path,))
    if path == "/openapi.json" and isinstance(body, dict):
        title = str((body.get("info") or {}).get("title", ""))
        routes = set(body.get("paths") or ())
        if "/v1/score/evaluation" in routes:
            return Detection(LLAMA_FACTORY, ("/openapi.json lists /v1/score/evaluation",), (path,))
        if "llama.cpp python" in title.lower() or "/extras/tokenize" in routes:
            return Detection(LLAMA_CPP_PYTHON, (f"/openapi.json title {title!r}",), (path,))
        if "/get_ppl" in routes:
            return Detection(LMDEPLOY, ("/openapi.json lists /get_ppl",), (path,))
        if "/version" in routes and "/tokenize" in routes:
            return Detection(VLLM, ("/openapi.json lists /version and /tokenize",), (path,))
    return None


def for_engine(name: Engine) -> tuple[EngineProfile, bool]:
    """The profile for an ``--engine`` value, and whether the listing must still say which variant it is.

    ``llama-cpp`` is two servers: it starts as llama-cpp-python, the cautious one (tool calls as text, no usage
    asked for), until ``/v1/models`` shows llama-server.
    """
    if name == Engine.LLAMA_CPP:
        return LLAMA_CPP_PYTHON, True
    return PROFILES.get(name, GENERIC), False


def refine(chosen: EngineProfile, models: Sequence[Mapping[str, Any]], headers: Mapping[str, str]) -> EngineProfile:
    """For a profile set with ``--engine``: pick the variant the listing shows (llama-server or llama-cpp-python)."""
    if chosen.name is not Engine.LLAMA_CPP:
        return chosen
    seen = from_listing(models, headers)
    return seen.profile if seen is not None and seen.profile.name is Engine.LLAMA_CPP else chosen


def metrics_url(base_url: str, profile: EngineProfile) -> str | None:
    """The engine's own Prometheus URL for an endpoint, e.g. http://host:8000/metrics for …:8000/v1."""
    if profile.metrics_path is None:
        return None
    return server_root(base_url) + profile.metrics_path


def server_root(base_url: str) -> str:
    """``http://host:port/v1`` → ``http://host:port`` (routes like /metrics and /version live there)."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root
