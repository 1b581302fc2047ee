"""Typed settings with one precedence: CLI flags > environment > config.toml > defaults.

Every setting has one name used everywhere: ``--base-url`` on the command line, ``VT_TUI_BASE_URL`` in the
environment, ``base_url`` in ``config.toml``. The OpenAI SDK's ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` are
read too, below their ``VT_TUI_`` forms. A renamed setting keeps its old name as an alias (:data:`RENAMED`).
This module imports only the standard library and the core's stdlib-only vocabularies (engine names, tool
modes and thinking levels from :mod:`vt_tui.core.profiles`, context strategies from :mod:`vt_tui.core.context`,
the generation parameters' rule from :mod:`vt_tui.core.params`): it is on the path of ``vt-tui --version``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vt_tui import paths
from vt_tui.core import params
from vt_tui.core.context import ContextStrategy
from vt_tui.core.profiles import Engine, Thinking, ToolMode

if TYPE_CHECKING:
    from vt_tui.core.mcp.config import ServerConfig

ENV_PREFIX = "VT_TUI_"
ENV_ALIASES = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY"}
RENAMED = {"ctx_size": "n_ctx"}  # old name -> new: still read from config.toml, $VT_TUI_* and flags
STT_MODES = ("auto", "endpoint", "local", "off")
TTS_MODES = ("auto", "endpoint", "espeak", "off")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting has a bad value or an unknown name; the message says which and where."""


def _opt(help: str, **kw: Any) -> Any:
    default = kw.pop("default", None)
    factory = kw.pop("default_factory", None)
    meta = {"help": help, **kw}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Everything a user can set. ``kind`` in the metadata names the type used to parse strings."""

    # Endpoint
    base_url: str | None = _opt("OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (default: embedded)")
    api_key: str | None = field(
        default=None, repr=False, metadata={"help": "API key for the endpoint (never shown or stored)"}
    )
    model: str | None = _opt("model id (default: the first from /v1/models)")
    engine: Engine = _opt("engine profile", default=Engine.AUTO, kind=Engine)
    request_timeout: float = _opt("seconds to wait for the first byte of a reply", default=120.0, kind=float)
    stream_idle_timeout: float = _opt(
        "seconds without a byte in the middle of a streamed reply before it is given up (the partial reply is kept)",
        default=60.0,
        kind=float,
    )
    # Embedded llama.cpp server
    gguf: Path | None = _opt("GGUF model file for the embedded server (default: SmolLM2-135M-Instruct)", kind=Path)
    n_gpu_layers: int = _opt("layers the embedded server offloads to the GPU (-1: all)", default=0, kind=int)
    threads: int = _opt("llama.cpp threads for the embedded server", default=1, kind=int)
    n_ctx: int | None = _opt(
        "context window of the embedded server in tokens (default: the model's trained window, at most 16384; "
        "formerly ctx_size)",
        kind=int,
    )
    startup_timeout: float = _opt("seconds to wait for the embedded server", default=90.0, kind=float)
    # Generation
    system: str | None = _opt("system prompt")
    persona: str | None = _opt("persona name from prompts/")
    temperature: float | None = _opt("sampling temperature (default: the persona's, else the engine's)", kind=float)
    top_p: float | None = _opt("nucleus sampling top_p (default: the persona's, else the engine's)", kind=float)
    max_tokens: int | None = _opt(
        f"maximum tokens in a reply, always sent (default: the persona's, else {params.DEFAULT_MAX_TOKENS})", kind=int
    )
    # Context window
    context_window: int | None = _opt(
        "the model's context window in tokens, over what the server says (default: asked from the server)", kind=int
    )
    context_strategy: ContextStrategy = _opt(
        "a message over the context window: ask (the app asks; `ask` fails), truncate (drop the oldest turns), "
        "compact (the model summarises them)",
        default=ContextStrategy.ASK,
        kind=ContextStrategy,
    )
    thinking: Thinking | None = _opt(
        "how much a reasoning model thinks, sent the way the engine takes it (default: the persona's, else auto: "
        "nothing sent)",
        kind=Thinking,
    )
    hide_thinking: bool = _opt(
        "show no thinking in the chat (it is still kept with the conversation)", default=False, kind=bool
    )
    # Composer
    # 30: the composer shows 12 lines, so a paste of 30 is a document of several screens rather than a prompt to
    # edit around; a snippet of 10 or 20 lines still lands in the box.
    paste_chip_lines: int = _opt(
        "a paste of more lines than this becomes an attachment chip instead of filling the composer (0: never)",
        default=30,
        kind=int,
    )
    # Tools
    tools: ToolMode = _opt("tool calling mode", default=ToolMode.AUTO, kind=ToolMode)
    max_steps: int = _opt("maximum agent steps per turn", default=6, kind=int)
    fetch_allow_hosts: tuple[str, ...] = _opt(
        "hosts web_fetch may reach even if private (comma-separated)", default=(), kind=tuple
    )
    searxng_url: str | None = _opt("SearxNG instance for web_search (default: DuckDuckGo)")
    # GPU
    gpu_rate: float = _opt("GPU samples per second", default=2.0, kind=float)
    metrics_urls: tuple[str, ...] = _opt(
        "URLs of GPU exporters (dcgm-exporter, nvitop-exporter: one per host), an engine's /metrics, or "
        "Ollama's /api/ps (comma-separated)",
        default=(),
        kind=tuple,
    )
    gpus: tuple[str, ...] = _opt(
        "GPUs a turn's energy and VRAM are counted on: indices, or HOST:INDEX for a remote GPU "
        "(comma-separated; default: those holding the server's process)",
        default=(),
        kind=tuple,
    )
    # Voice
    stt: str = _opt(
        "speech to text: the endpoint's /v1/audio/transcriptions or local faster-whisper",
        default="auto",
        choices=STT_MODES,
    )
    tts: str = _opt("text to speech: the endpoint's /v1/audio/speech or espeak-ng", default="auto", choices=TTS_MODES)
    speak: bool = _opt("read replies aloud from the start (F7 toggles)", default=False, kind=bool)
    voice_send: bool = _opt("send a transcript at once instead of putting it in the composer", default=False, kind=bool)
    audio_in: str | None = _opt("microphone: a PortAudio device index or part of its name (default: the system's)")
    audio_out: str | None = _opt("speaker: a PortAudio device index or part of its name (default: the system's)")
    stt_model: str | None = _opt("transcription model on the endpoint (default: a listed whisper model, or whisper-1)")
    stt_language: str | None = _opt("language spoken, e.g. en (default: detected)")
    tts_model: str | None = _opt("speech model on the endpoint (default: tts-1)")
    tts_voice: str | None = _opt("voice: the endpoint's (default alloy) or espeak-ng's (default en-us)")
    # MCP servers (vt_tui.core.mcp.config parses and checks them)
    mcp_config: Path | None = _opt(
        'a file of MCP servers: [mcp_servers.NAME] tables, or the {"mcpServers": …} JSON of other clients',
        kind=Path,
    )
    mcp_servers: tuple[ServerConfig, ...] = _opt(
        "MCP servers: [mcp_servers.NAME] tables", default=(), kind="mcp_servers", file_only=True
    )
    # Storage
    data_dir: Path | None = _opt("where conversations are kept (default: XDG data dir)", kind=Path)
    # Keys
    keymap: tuple[tuple[str, str], ...] = _opt(
        "keys by binding id (README): a [keymap] table in config.toml, or ID=KEYS pairs separated by spaces",
        default=(),
        kind=dict,
        metavar="ID=KEYS",
    )

    def __post_init__(self) -> None:
        for f in fields(self):  # Settings(tools="off") as well as the parsed layers: one type for each value
            kind = f.metadata.get("kind")
            if isinstance(kind, type) and issubclass(kind, StrEnum) and getattr(self, f.name) is not None:
                object.__setattr__(self, f.name, kind(getattr(self, f.name)))

    def __repr__(self) -> str:  # api_key stays out of any log or traceback
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "api_key")
        return f"Settings({shown}, api_key={'***' if self.api_key else None})"

    @property
    def embedded(self) -> bool:
        """True when no endpoint is configured and vt-tui serves its own model."""
        return not self.base_url

    def database_path(self) -> Path:
        return (self.data_dir or paths.data_dir()) / "conversations.sqlite3"


FIELDS = {f.name: f for f in fields(Settings)}


def _kind(name: str) -> Any:
    return FIELDS[name].metadata.get("kind", str)


def choices(name: str) -> tuple[str, ...] | None:
    """The values setting ``name`` may take, when it is one of a few."""
    kind = _kind(name)
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return tuple(kind)
    return FIELDS[name].metadata.get("choices")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def spelled(name: str) -> str:
    """Every way to give setting ``name``, for messages that tell a user to set it."""
    return f"{flag(name)}, ${env_var(name)} or {name} in config.toml"


def coerce(name: str, value: Any, source: str) -> Any:
    """Turn ``value`` (a string from env/CLI or a TOML value) into the type of setting ``name``.

    Generation parameters are checked by the rule personas and the parameters dialog use
    (:func:`vt_tui.core.params.validate`), so ``--temperature 9`` is refused as a persona's would be.
    """
    kind = _kind(name)
    if kind == "mcp_servers":
        return _mcp(lambda config: config.parse_servers(value, source))
    try:
        if kind is dict:
            return _keymap(value)
        if kind is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise TypeError("expected a list of strings")
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
                return value.strip().lower() in TRUE_WORDS
            raise TypeError(f"expected one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
        if kind is Path:
            return Path(os.path.expanduser(str(value)))
        if kind in (int, float):
            if isinstance(value, bool):
                raise TypeError("expected a number")
            result = kind(value)
        else:
            if not isinstance(value, str):
                raise TypeError("expected a string")
            result = value
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name} in {source}: {value!r} is not valid ({exc})") from None
    allowed = choices(name)
    if allowed and result not in allowed:
        raise SettingsError(f"{name} in {source}: {result!r} is not one of {', '.join(allowed)}")
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return kind(result)
    if name in params.PARAMS:
        try:
            return params.validate(name, result)
        except ValueError as exc:
            raise SettingsError(f"{source}: {exc}") from None
    return result


def _keymap(value: Any) -> tuple[tuple[str, str], ...]:
    """``{"retry": "f12"}`` (a TOML table) or ``"retry=f12 talk=ctrl+t,f6"`` as sorted (id, keys) pairs."""
    if isinstance(value, str):
        pairs = [pair.partition("=") for pair in value.split()]
        if any(not sep or not name or not keys for name, sep, keys in pairs):
            raise TypeError("expected ID=KEYS pairs separated by spaces")
        value = {name: keys for name, _, keys in pairs}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError("expected a table of binding id = keys")
    return tuple(sorted(value.items()))


def from_file(path: Path) -> dict[str, Any]:
    """Read ``config.toml``; a missing file is empty, an unknown key or bad value is an error."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    out = {}
    for key, value in raw.items():
        name = RENAMED.get(key, key)
        if name not in FIELDS:
            raise SettingsError(f"{path}: unknown setting {key!r} (known: {', '.join(FIELDS)})")
        if name in out:
            old = next(o for o, new in RENAMED.items() if new == name)
            raise SettingsError(f"{path}: both {name} and its old name {old} are set; keep {name}")
        out[name] = coerce(name, value, str(path))
    return out


def from_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    out = {}
    old_names = {new: old for old, new in RENAMED.items()}
    for name in FIELDS:
        if FIELDS[name].metadata.get("file_only"):
            continue
        old = old_names.get(name)
        for var in (env_var(name), ENV_ALIASES.get(name), env_var(old) if old else None):
            if var and environ.get(var):
                out[name] = coerce(name, environ[var], f"${var}")
                break
    return out


def gpu_keys(values: tuple[str, ...]) -> tuple[tuple[str | None, int], ...]:
    """The ``gpus`` setting as (host, index) pairs; host None is this machine. ValueError on a bad entry."""
    keys = []
    for value in values:
        host, _, index = value.strip().rpartition(":")
        if not index.isdigit():
            raise ValueError(f"{value!r} is not a GPU index or HOST:INDEX")
        keys.append((host or None, int(index)))
    return tuple(keys)


def load(
    cli: dict[str, Any] | None = None,
    environ: dict[str, str] | os._Environ[str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Merge the four layers. ``cli`` holds only the flags the user gave, already typed."""
    environ = os.environ if environ is None else environ
    merged = from_file(config_path or paths.config_file())
    merged.update(from_env(environ))
    merged.update(cli or {})
    if merged.get("mcp_config"):  # its servers join config.toml's; one of the same name replaces it
        merged["mcp_servers"] = _mcp(
            lambda config: config.merge(merged.get("mcp_servers", ()), config.read_file(merged["mcp_config"]))
        )
    for name in ("threads", "max_steps", "n_ctx", "context_window"):
        if merged.get(name) is not None and merged[name] < 1:
            raise SettingsError(f"{name} must be at least 1 (got {merged[name]})")
    if merged.get("paste_chip_lines", 0) < 0:
        raise SettingsError(f"paste_chip_lines must be 0 (never) or more (got {merged['paste_chip_lines']})")
    try:
        gpu_keys(merged.get("gpus", ()))
    except ValueError as exc:
        raise SettingsError(f"gpus: {exc}") from None
    return Settings(**merged)


def _mcp(parse: Any) -> Any:
    """Run ``parse(vt_tui.core.mcp.config)``, its errors as :class:`SettingsError` (imported only when used)."""
    from vt_tui.core.mcp import config

    try:
        return parse(config)
    except config.McpConfigError as exc:
        raise SettingsError(str(exc)) from None
