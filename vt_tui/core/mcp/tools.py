"""An MCP server's tools as LangChain tools: the names the model sees, argument checks, and results as text.

* **Names**: ``server__tool``, made of letters, digits, ``_`` and ``-`` and at most 64 characters (what OpenAI-style
  function names allow), so two servers that both offer ``search`` give ``notes__search`` and ``web__search``.
  Always prefixed, so a name does not change when another server is added.
* **Arguments**: the tool's JSON schema is its ``args_schema``, which the agent checks before it asks or calls.
* **Results**: text parts joined; structured content as JSON when there is no text; ``isError`` becomes a tool error
  (:class:`ToolException`, "Error: …" to the model); long text is cut with a note, as web_fetch's pages are
  (:func:`~vt_tui.core.agent.config.cut_result`). Images become the result's artifact (``TOOL_IMAGES``), which the
  agent shows to vision models after the result (and notes as not shown to others), each with a line in the text.
  Audio and binary resources become notes.
* **Trust**: each tool's metadata carries its server, its own name, ``trusted``, and ``risky = not trusted`` (the
  agent asks before running risky tools; headless, it refuses them).

Importing this module is cheap; LangChain is imported by :func:`langchain_tools`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool
    from mcp import types

    from vt_tui.core.mcp.config import ServerConfig

NAME_MAX = 64
SEPARATOR = "__"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")

Caller = Callable[[str, dict[str, Any]], Awaitable["types.CallToolResult"]]


class McpCallError(Exception):
    """A call that could not be made or got no result (server gone, protocol error); said for the model."""


def safe_name(text: str) -> str:
    """``text`` with anything but letters, digits, ``_`` and ``-`` made ``_`` (tool names, log file names)."""
    return _NOT_NAME.sub("_", text)


def model_name(server: str, tool: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """The name the model sees for ``tool`` of ``server``: valid, at most 64 characters, not in ``taken``."""
    name = f"{safe_name(server)}{SEPARATOR}{safe_name(tool) or 'tool'}"
    if len(name) > NAME_MAX:  # cut, with a digest of the whole so that long names that start alike stay apart
        name = f"{name[: NAME_MAX - 9]}_{hashlib.sha1(f'{server}/{tool}'.encode()).hexdigest()[:8]}"
    unique, n = name, 1
    while unique in taken:
        n += 1
        suffix = f"_{n}"
        unique = name[: NAME_MAX - len(suffix)] + suffix
    return unique


def result_content(result: types.CallToolResult) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """(what the model reads, the artifact: the images as LangChain image blocks) for a successful result."""
    from vt_tui.core.agent.config import TOOL_IMAGES, cut_result

    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for part in result.content:
        kind = part.type
        if kind == "text":
            texts.append(part.text)
        elif kind == "image":
            images.append({"type": "image", "base64": part.data, "mime_type": part.mimeType})
            texts.append(f"[image {len(images)}: {_described(part.mimeType, part.data)}]")
        elif kind == "audio":
            texts.append(f"[{_described(part.mimeType, part.data)}, not played: audio is not passed on]")
        elif kind == "resource_link":
            texts.append(f"[resource {part.uri}{f' ({part.name})' if part.name else ''}]")
        elif kind == "resource":
            resource = part.resource
            text = getattr(resource, "text", None)
            if text is not None:
                texts.append(text)
            else:
                texts.append(f"[resource {resource.uri}: {_described(resource.mimeType, resource.blob)}]")
    if not texts and result.structuredContent is not None:
        texts.append(json.dumps(result.structuredContent, ensure_ascii=False, indent=1))
    return cut_result("\n\n".join(texts)) if texts else "(no output)", {TOOL_IMAGES: images}


def error_text(result: types.CallToolResult) -> str:
    """The message of a result with ``isError``."""
    from vt_tui.core.agent.config import cut_result

    text = "\n".join(part.text for part in result.content if part.type == "text").strip()
    return cut_result(text) or "the tool reported an error without a message"


def langchain_tools(
    server: ServerConfig, tools: list[types.Tool], names: dict[str, str], call: Caller
) -> list[BaseTool]:
    """LangChain tools for ``tools`` of ``server``; ``names`` maps each tool's own name to the model's name,
    ``call(tool, args)`` calls it on the server."""
    from langchain_core.tools import StructuredTool

    from vt_tui.core.agent.config import MCP_SERVER, MCP_TOOL

    built: list[BaseTool] = []
    for tool in tools:
        metadata: dict[str, Any] = {
            MCP_SERVER: server.name,
            MCP_TOOL: tool.name,
            "trusted": server.trust,
            "risky": not server.trust,
        }
        if server.timeout_s is not None:
            metadata["timeout_s"] = server.timeout_s
        schema = dict(tool.inputSchema or {"type": "object"})
        schema.setdefault("properties", {})
        built.append(
            StructuredTool(
                name=names[tool.name],
                description=(tool.description or tool.title or tool.name).strip(),
                args_schema=schema,
                coroutine=_runner(tool.name, call),
                response_format="content_and_artifact",
                handle_tool_error=True,
                metadata=metadata,
            )
        )
    return built


def _runner(tool: str, call: Caller) -> Callable[..., Any]:
    from langchain_core.tools import ToolException

    async def run(**args: Any) -> tuple[str, dict[str, list[dict[str, Any]]]]:
        try:
            result = await call(tool, args)
        except McpCallError as exc:
            raise ToolException(f"Error: {exc}") from None
        if result.isError:
            raise ToolException(f"Error: {error_text(result)}")
        return result_content(result)

    return run


def _described(mime_type: str | None, data: str | None) -> str:
    try:
        size = len(base64.b64decode(data or "", validate=False))
    except (binascii.Error, ValueError):
        size = 0
    shown = f"{size / 1024:,.0f} KB" if size >= 1024 else f"{size} B"
    return f"{mime_type or 'binary'} data, {shown}"
