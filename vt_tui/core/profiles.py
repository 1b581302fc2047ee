"""Engine profiles: what each OpenAI-compatible server does differently, and how to tell them apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ToolCalling = Literal["native", "text", "off"]


@dataclass(frozen=True)
class EngineProfile:
    """Quirks of one engine. ``tool_calling`` is the default; the user's ``tools`` setting overrides it."""

    name: str
    tool_calling: ToolCalling = "native"
    stream_tool_calls: bool = True
    usage_in_stream: bool = True
    strict_alternation: bool = False  # one leading system message, then user/assistant/user/…
    metrics_path: str | None = None
    vision: bool = False
    drop_zero_penalties: bool = False  # presence/frequency_penalty 0 breaks some servers
    ignored_params: tuple[str, ...] = ()


PROFILES: dict[str, EngineProfile] = {
    p.name: p
    for p in (
        EngineProfile("openai", vision=True),
        EngineProfile("vllm", metrics_path="/metrics", vision=True),
        EngineProfile(
            "llama-factory",
            stream_tool_calls=False,
            usage_in_stream=False,
            strict_alternation=True,
            drop_zero_penalties=True,
            ignored_params=("stop", "seed", "tool_choice", "response_format"),
        ),
        EngineProfile("llama-cpp", tool_calling="text", usage_in_stream=False, metrics_path="/metrics"),
        EngineProfile("ollama", vision=True),
        EngineProfile("lmdeploy", vision=True),
    )
}
GENERIC = EngineProfile("generic", tool_calling="text")


def detect(models: Sequence[Mapping[str, Any]], headers: Mapping[str, str]) -> EngineProfile:
    """Guess the engine from a ``/v1/models`` listing and the response headers."""
    server = headers.get("server", "").lower()
    owners = {str(m.get("owned_by", "")).lower() for m in models}
    ids = [str(m.get("id", "")) for m in models]
    if "llama.cpp" in server or any(i.endswith(".gguf") for i in ids) or "llamacpp" in owners:
        return PROFILES["llama-cpp"]
    if "vllm" in owners:
        return PROFILES["vllm"]
    if "lmdeploy" in owners:
        return PROFILES["lmdeploy"]
    if "library" in owners or "ollama" in server:
        return PROFILES["ollama"]
    if "owner" in owners and "uvicorn" in server:  # LLaMA-Factory's ModelCard default
        return PROFILES["llama-factory"]
    if "openai" in owners or "system" in owners:
        return PROFILES["openai"]
    return GENERIC
