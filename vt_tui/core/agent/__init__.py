"""Agent turns: tool calling through LangChain's ``create_agent``, natively or as text, with approvals.

Importing this package is cheap: LangChain is imported only by :mod:`vt_tui.core.agent.runner`, which the session
loads in a worker thread on the first agent turn (or :func:`preload` does it earlier, e.g. right after connect).

The pieces a caller uses::

    shared = AgentConfig.for_run(settings, approver=ask_the_user)   # approver: None when headless
    session = ConversationSetup.build(settings, persona).session(endpoint, shared)   # core/conversation.py
    await preload(shared)             # optional: import LangChain and load the tools now, off the event loop
    shared.registry.errors            # [(plugin name, error)] to show the user
"""

from __future__ import annotations

import asyncio
import importlib

from vt_tui.core.agent.config import (
    TOOL_TIMEOUT_S,
    AgentConfig,
    ApprovalRequest,
    Approver,
    Decision,
    ToolPlan,
    approval_scope,
    plan_tools,
)
from vt_tui.core.agent.registry import PluginError, ToolRegistry, plugin_dir

__all__ = [
    "TOOL_TIMEOUT_S",
    "AgentConfig",
    "ApprovalRequest",
    "Approver",
    "Decision",
    "PluginError",
    "ToolPlan",
    "ToolRegistry",
    "approval_scope",
    "plan_tools",
    "plugin_dir",
    "preload",
]


async def preload(config: AgentConfig) -> ToolRegistry:
    """Load the tools and, if there are any, import the LangChain agent stack — both in worker threads."""
    registry = await config.registry.aload()
    if registry.tools:
        await asyncio.to_thread(importlib.import_module, "vt_tui.core.agent.runner")
    return registry
