"""How a conversation is set up, decided in one place for the app, ``vt-tui ask`` and ``vt-tui doctor``.

From the settings and a persona (and, for a stored conversation, what it was started with): the persona, the
system prompt, the generation parameters, the model, the tool mode and the tools offered. Doctor reports the
same object a turn runs with, so what it says is what a turn does. Precedence, one rule per field: the user's
flags, ``$VT_TUI_*`` and ``config.toml`` win over the persona, the persona over the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from vt_tui.core.agent.config import AgentConfig, ToolPlan, plan_tools
from vt_tui.core.context import ContextStrategy
from vt_tui.core.params import GenerationParams
from vt_tui.core.personas import DEFAULT, Persona, PersonaSet
from vt_tui.core.profiles import EngineProfile, ToolMode
from vt_tui.core.session import ChatSession
from vt_tui.core.store import ConversationInfo

if TYPE_CHECKING:
    from vt_tui.core.endpoint import Endpoint
    from vt_tui.settings import Settings

# Measured on the shipped model: it never called a tool in either protocol, and a long system prompt (a persona's,
# or the text protocol's tool prompt) made its answers worse than its chat template's own short one.
SHIPPED_MODEL = "the shipped SmolLM2-135M never calls a tool, and the tool prompt worsens its answers"


def on_shipped_model(settings: Settings) -> bool:
    """True when the turns go to the embedded server on the model vt-tui ships (no ``--base-url``, no ``--gguf``)."""
    return settings.embedded and settings.gguf is None


def default_persona(personas: PersonaSet, settings: Settings) -> Persona | None:
    """The persona a new conversation starts with: ``--persona``, else the default one — none on the shipped
    model (see :data:`SHIPPED_MODEL`). None too for a ``--persona`` that does not exist: the caller says so."""
    if settings.persona:
        return personas.get(settings.persona)
    return None if on_shipped_model(settings) else personas.get(DEFAULT)


@dataclass(frozen=True)
class ConversationSetup:
    """Everything a conversation's turns are sent with, before the user changes it (F2, F11). ``params`` carries
    the thinking setting (sent per engine: :meth:`thinking_plan`).

    ``tool_mode`` is what was asked for (AUTO: the engine's profile decides, see :meth:`tool_plan`) and
    ``tool_reason`` why, when it was not left to the engine. ``tools`` are the tool names offered (a persona's
    ``tools: [...]``); None offers every tool that loaded.
    """

    system: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    model: str | None = None
    persona: Persona | None = None
    tool_mode: ToolMode = ToolMode.AUTO
    tool_reason: str = ""
    tools: frozenset[str] | None = None
    max_steps: int = 6
    context_strategy: ContextStrategy = ContextStrategy.ASK

    @classmethod
    def build(
        cls,
        settings: Settings,
        persona: Persona | None,
        *,
        stored: ConversationInfo | None = None,
        models: Sequence[str] = (),
    ) -> ConversationSetup:
        """The setup for a new conversation, or for reopening ``stored`` (its system prompt, and its model while
        the endpoint still lists it in ``models``)."""
        mode, reason = _tool_mode(settings, persona)
        return cls(
            system=stored.system if stored else settings.system or (persona.system if persona else None),
            params=_params(settings, persona),
            model=settings.model or (stored.model if stored and stored.model in models else None),
            persona=persona,
            tool_mode=mode,
            tool_reason=reason,
            tools=frozenset(persona.tools) if persona and isinstance(persona.tools, tuple) else None,
            max_steps=settings.max_steps,
            context_strategy=settings.context_strategy,
        )

    def tool_plan(self, profile: EngineProfile) -> ToolPlan:
        """What a turn will do with tools on this engine (native, text or off), and why."""
        return plan_tools(self.tool_mode, profile, max_steps=self.max_steps, why=self.tool_reason)

    def thinking_plan(self, profile: EngineProfile) -> str:
        """What a turn sends for the thinking setting on this engine, in words (doctor)."""
        return profile.thinking.describe(self.params.thinking)

    def agent(self, shared: AgentConfig) -> AgentConfig:
        """This conversation's agent config: its mode, step limit and tools, with the tool registry, approver and
        "always" answers of ``shared`` (one per app run, from :meth:`AgentConfig.for_run`)."""
        return replace(shared, mode=self.tool_mode, why=self.tool_reason, tools=self.tools, max_steps=self.max_steps)

    def session(self, endpoint: Endpoint, shared: AgentConfig, **kw: Any) -> ChatSession:
        """A session that runs this setup on ``endpoint`` (``kw``: store, conversation_id, gpu_cost)."""
        return ChatSession(
            endpoint,
            model=self.model,
            system=self.system,
            params=replace(self.params),
            agent=self.agent(shared),
            persona=self.persona.name if self.persona else None,
            context_strategy=self.context_strategy,
            **kw,
        )


def _params(settings: Settings, persona: Persona | None) -> GenerationParams:
    """The persona's values over the defaults, the user's settings over the persona's."""
    params = persona.params(GenerationParams()) if persona else GenerationParams()
    names = ("temperature", "top_p", "max_tokens", "thinking")
    given = {name: value for name in names if (value := getattr(settings, name)) is not None}
    return replace(params, **given)


def _tool_mode(settings: Settings, persona: Persona | None) -> tuple[ToolMode, str]:
    if persona is not None and persona.tools is False:
        return ToolMode.OFF, f"persona {persona.name} has tools: false"
    if settings.tools is not ToolMode.AUTO:
        return settings.tools, ""  # plan_tools says "your setting"
    if on_shipped_model(settings):
        return ToolMode.OFF, f"auto: {SHIPPED_MODEL}"
    return ToolMode.AUTO, ""
