"""Agent turns: tool calling through LangChain's ``create_agent``, natively or as text, with approvals.

Importing this package is cheap: LangChain is imported only by :mod:`vt_tui.core.agent.runner`, which the session
loads in a worker thread on the first agent turn (or :func:`preload` does it earlier, e.g. right after connect).

The pieces a caller uses::

    config = AgentConfig.from_settings(settings, approver=ask_the_user)   # approver: None when headless
    session = ChatSession(endpoint, ..., agent=config)
    await preload(config)             # optional: import LangChain and load the tools now, off the event loop
    config.registry.errors            # [(plugin name, error)] to show the user
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
    Mode,
    approval_scope,
)
from vt_tui.core.agent.registry import PluginError, ToolRegistry, plugin_dir

__all__ = [
    "TOOL_TIMEOUT_S",
    "AgentConfig",
    "ApprovalRequest",
    "Approver",
    "Decision",
    "Mode",
    "PluginError",
    "ToolRegistry",
    "approval_scope",
    "plugin_dir",
    "preload",
]


async def preload(config: AgentConfig) -> ToolRegistry:
    """Load the tools and, if there are any, import the LangChain agent stack — both in worker threads."""
    registry = await config.registry.aload()
    if registry.tools:
        await asyncio.to_thread(importlib.import_module, "vt_tui.core.agent.runner")
    return registry
