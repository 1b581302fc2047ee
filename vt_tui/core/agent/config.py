"""How a conversation's turns use tools: the mode on an engine, the tools offered, approvals. Imports no LangChain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from vt_tui.core.agent.registry import ToolRegistry
from vt_tui.core.profiles import EngineProfile, ToolMode

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from vt_tui.settings import Settings

TOOL_TIMEOUT_S = 30.0  # per tool call, unless the tool's metadata says {"timeout_s": …}
TOOL_RESULT_CHARS = 8_000  # what a tool hands the model at most (a fetched page, an MCP result): still usable
# A tool (response_format="content_and_artifact") whose artifact is {TOOL_IMAGES: [LangChain image blocks]} has
# those images shown to vision models after its result (an MCP server's screenshot); others get a note.
TOOL_IMAGES = "images"
# An MCP server's tool carries its server's name and its own name in its metadata (the model sees server__tool).
MCP_SERVER, MCP_TOOL = "mcp_server", "mcp_tool"
Decision = Literal["once", "always", "deny"]


@dataclass(frozen=True)
class ApprovalRequest:
    """A risky tool call waiting for the user. ``scope`` is what "always" remembers (see :func:`approval_scope`)."""

    call_id: str
    name: str
    args: dict[str, Any]
    scope: str
    description: str = ""
    title: str = ""  # how the user knows the tool (see tool_title); the name when empty


Approver = Callable[[ApprovalRequest], Awaitable[Decision]]


def tool_title(tool: BaseTool) -> str:
    """How the user knows a tool: "server · tool" for an MCP server's, else its name."""
    metadata = tool.metadata or {}
    server, own = metadata.get(MCP_SERVER), metadata.get(MCP_TOOL)
    return f"{server} · {own}" if server and own else tool.name


def cut_result(text: str, limit: int = TOOL_RESULT_CHARS) -> str:
    """A tool's long output for the model: its first ``limit`` characters and a note saying how much there was
    (tools cut their own results so that the note is theirs; the runner's cut is a last resort)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n\n[Showing the first {limit:,} of {len(text):,} characters.]"


def approval_scope(name: str, args: dict[str, Any], *, built_in: bool) -> str:
    """What an approval covers: for a built-in tool with a ``url`` argument (web_fetch), the URL's host; else the
    tool's name. Never a host for a plugin's or an MCP server's tool: what it does with a URL is unknown, and a
    host in ``fetch_allow_hosts`` would have let an untrusted server's tool run without asking."""
    if not built_in:
        return name
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


@dataclass(frozen=True)
class ToolPlan:
    """What a turn does with tools on one engine, and why: the session runs it, ``vt-tui doctor`` says it."""

    mode: ToolMode  # NATIVE, TEXT or OFF (plain streaming, no agent)
    streamed: bool  # native tool calls arrive in streamed replies (else the engine's tool steps are not streamed)
    why: str

    def describe(self) -> str:
        how = {ToolMode.NATIVE: "native OpenAI tool_calls", ToolMode.TEXT: "tool calls written as text"}
        said = how.get(self.mode, "no tools")
        if self.mode is ToolMode.NATIVE:
            said += ", streamed" if self.streamed else ", non-streamed"
        return f"{said} — {self.why}"


def plan_tools(mode: ToolMode, profile: EngineProfile, *, max_steps: int, why: str = "") -> ToolPlan:
    """The one rule for a turn's tool mode: ``mode`` as asked (AUTO: the engine's profile decides), and OFF when
    one step leaves no room for a tool round. ``why`` says why ``mode`` is not AUTO (a setting, a persona)."""
    if mode is ToolMode.AUTO:
        mode, why = profile.tool_calling, f"auto: {profile.tool_reason or profile.title}"
    else:
        why = why or f"tools = {mode} (your setting)"
    if mode is not ToolMode.OFF and max_steps < 2:
        mode, why = ToolMode.OFF, f"max_steps = {max_steps} leaves no room for a tool call and its answer"
    return ToolPlan(mode, mode is ToolMode.NATIVE and profile.stream_tool_calls, why)


@dataclass
class AgentConfig:
    """How one conversation's turns use tools (see :class:`~vt_tui.core.session.ChatSession`).

    ``mode`` as asked (AUTO follows the engine's profile; ``why`` says why it is not, for doctor), ``max_steps``
    model requests per turn, ``tools`` the tool names offered (None: every tool that loaded). ``approver`` is
    awaited for risky tools (``tool.metadata["risky"]``); without one (headless) risky calls are denied unless
    their scope is in ``allow`` (hosts such as ``Settings.fetch_allow_hosts``, or tool names). "Always" answers are
    kept in ``approved``. The registry, approver and ``approved`` are an app run's, shared by the conversations'
    configs (``ConversationSetup.agent`` derives one from :meth:`for_run`'s).
    """

    mode: ToolMode = ToolMode.AUTO
    max_steps: int = 6
    registry: ToolRegistry = field(default_factory=ToolRegistry)
    approver: Approver | None = None
    allow: frozenset[str] = frozenset()
    tool_timeout_s: float = TOOL_TIMEOUT_S
    approved: set[tuple[str, str]] = field(default_factory=set)  # "always" answers: (tool name, scope)
    tools: frozenset[str] | None = None
    why: str = ""

    def __post_init__(self) -> None:
        self.mode = ToolMode(self.mode)
        self.allow = frozenset(_host_of(a) for a in self.allow if a.strip())

    @classmethod
    def for_run(cls, settings: Settings, *, approver: Approver | None = None) -> AgentConfig:
        """The part an app run shares: built-in and plugin tools, ``fetch_allow_hosts`` allowed, the approver.
        A conversation's mode and tools come from its setup (:mod:`vt_tui.core.conversation`)."""
        return cls(
            registry=ToolRegistry.from_settings(settings),
            approver=approver,
            allow=frozenset(settings.fetch_allow_hosts),
        )

    def plan(self, profile: EngineProfile) -> ToolPlan:
        return plan_tools(self.mode, profile, max_steps=self.max_steps, why=self.why)

    def offered(self) -> list[BaseTool]:
        """The loaded tools this conversation may call (load the registry first)."""
        return [t for t in self.registry.tools if self.tools is None or t.name in self.tools]

    def allowed(self, scope: str, name: str) -> bool:
        return scope in self.allow or name in self.allow or (name, scope) in self.approved
