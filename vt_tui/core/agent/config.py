"""What a session needs to run agent turns: tool mode, step limit, tools, approvals. Imports no LangChain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from vt_tui.core.agent.registry import ToolRegistry
from vt_tui.core.profiles import EngineProfile

if TYPE_CHECKING:
    from vt_tui.settings import Settings

TOOL_TIMEOUT_S = 30.0  # per tool call, unless the tool's metadata says {"timeout_s": …}
# A tool (response_format="content_and_artifact") whose artifact is {TOOL_IMAGES: [LangChain image blocks]} has
# those images shown to vision models after its result (an MCP server's screenshot); others get a note.
TOOL_IMAGES = "images"
Mode = Literal["native", "text", "off"]
Decision = Literal["once", "always", "deny"]


@dataclass(frozen=True)
class ApprovalRequest:
    """A risky tool call waiting for the user. ``scope`` is what "always" remembers: the URL's host for web_fetch
    (any tool with a ``url`` argument), else the tool's name."""

    call_id: str
    name: str
    args: dict[str, Any]
    scope: str
    description: str = ""


Approver = Callable[[ApprovalRequest], Awaitable[Decision]]


def approval_scope(name: str, args: dict[str, Any]) -> str:
    url = args.get("url")
    if isinstance(url, str):
        try:
            host = urlsplit(url.strip()).hostname
        except ValueError:
            host = None
        if host:
            return host.lower()
    return name


def _host_of(entry: str) -> str:
    """``fetch_allow_hosts`` entries may carry a port (``host:8080``, ``[::1]:8080``); scopes are bare hosts."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else entry
    return entry.split(":")[0] if entry.count(":") == 1 else entry


@dataclass
class AgentConfig:
    """Agent settings for a :class:`~vt_tui.core.session.ChatSession`.

    ``mode`` is ``Settings.tools`` ("auto" follows the engine profile). ``approver`` is awaited for risky tools
    (``tool.metadata["risky"]``); without one (headless) risky calls are denied unless their scope is in
    ``allow`` (hosts such as ``Settings.fetch_allow_hosts``, or tool names). "Always" answers are kept in
    ``approved`` for as long as this config lives: share one config between the sessions of an app run.
    """

    mode: str = "auto"
    max_steps: int = 6
    registry: ToolRegistry = field(default_factory=ToolRegistry)
    approver: Approver | None = None
    allow: frozenset[str] = frozenset()
    tool_timeout_s: float = TOOL_TIMEOUT_S
    approved: set[tuple[str, str]] = field(default_factory=set)  # "always" answers: (tool name, scope)

    def __post_init__(self) -> None:
        self.allow = frozenset(_host_of(a) for a in self.allow if a.strip())

    @classmethod
    def from_settings(cls, settings: Settings, *, approver: Approver | None = None, **kw: Any) -> AgentConfig:
        mode = settings.tools
        if mode == "auto" and settings.embedded and settings.gguf is None:
            # The shipped SmolLM2-135M never calls a tool, and the tool prompt worsens its answers.
            mode = "off"
        return cls(
            mode=mode,
            max_steps=settings.max_steps,
            registry=kw.pop("registry", None) or ToolRegistry.from_settings(settings),
            approver=approver,
            allow=frozenset(settings.fetch_allow_hosts) | frozenset(kw.pop("allow", ())),
            **kw,
        )

    def resolve_mode(self, profile: EngineProfile) -> Mode:
        """native / text / off for this endpoint; "off" also when one step leaves no room for a tool round."""
        mode = profile.tool_calling if self.mode == "auto" else self.mode
        if mode not in ("native", "text") or self.max_steps < 2:
            return "off"
        return mode  # type: ignore[return-value]

    def allowed(self, scope: str, name: str) -> bool:
        return scope in self.allow or name in self.allow or (name, scope) in self.approved
