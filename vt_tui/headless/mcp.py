"""``vt-tui mcp``: start the configured MCP servers, list each (started or why not, transport, tools), stop them.

Exit code 1 when an enabled server did not start, else 0 (none configured included).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from vt_tui import paths
from vt_tui.core.mcp.config import HOW_TO
from vt_tui.core.mcp.manager import ServerState, ServerStatus, probe
from vt_tui.core.sanitize import inert
from vt_tui.logs import log_to_file
from vt_tui.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 130


def render(statuses: list[ServerStatus], out: TextIO) -> None:
    for n, status in enumerate(statuses):
        if n:
            out.write("\n")
        out.write(f"{status.name}: {inert(status.summary)}\n")
        out.write(f"  {status.transport.value}: {inert(status.target)}\n")
        if status.state is not ServerState.DISABLED:
            out.write(f"  {status.trust_words}\n")
        if status.log_path is not None and status.state in (ServerState.FAILED, ServerState.CRASHED):
            out.write(f"  log: {status.log_path}\n")
        width = max((len(tool.name) for tool in status.tools), default=0)
        for tool in status.tools:
            out.write(f"  {tool.name:<{width}}  {inert(tool.first_line)}\n")


def run(settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not settings.mcp_servers:
        out.write(f"No MCP servers configured: {HOW_TO.format(config=paths.config_file())}.\n")
        return EXIT_OK
    log_to_file()  # the SDK's and the servers' troubles go to the log, not into this listing
    try:
        statuses = asyncio.run(probe(settings.mcp_servers))
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    render(statuses, out)
    failed = [s.name for s in statuses if s.state is ServerState.FAILED]
    return EXIT_FAILED if failed else EXIT_OK
