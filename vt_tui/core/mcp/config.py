"""MCP server configuration: ``[mcp_servers.NAME]`` tables in ``config.toml`` and the ``--mcp-config FILE``.

A server is either a command vt-tui runs (stdio) or a URL it connects to (streamable HTTP, or SSE for older
servers)::

    [mcp_servers.notes]
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"]
    env = { LOG_LEVEL = "warn" }

    [mcp_servers.search]
    url = "http://127.0.0.1:8808/mcp"
    headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
    trust = true

``--mcp-config FILE`` reads the same tables from a TOML file, or the ``{"mcpServers": {…}}`` JSON that other
clients write (``type`` for ``transport`` and ``disabled`` are understood there; their approval lists and
``timeout``, whose unit differs between clients, are ignored). ``${VAR}`` (or ``${VAR:-default}``) in any of a
server's strings is taken from the environment when the server starts, so tokens stay out of the file; an unset
variable stops that server only. Every mistake is an error naming the server and the key.

Standard library only: the settings loader imports this on every start.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

HOW_TO = "add [mcp_servers.NAME] tables to {config} or pass --mcp-config FILE (see docs/mcp.md)"
DEFAULT_STARTUP_TIMEOUT_S = 60.0  # `npx -y` fetches the package on its first run
NAME_MAX = 64
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BAD_VAR = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")


class Transport(StrEnum):
    STDIO = "stdio"
    STREAMABLE_HTTP = "streamable-http"
    SSE = "sse"


# What other clients write for the transport ("type" in their JSON) and what we take it to mean.
TRANSPORT_WORDS = {
    "stdio": Transport.STDIO,
    "streamable-http": Transport.STREAMABLE_HTTP,
    "streamable_http": Transport.STREAMABLE_HTTP,
    "streamableHttp": Transport.STREAMABLE_HTTP,
    "http": Transport.STREAMABLE_HTTP,
    "sse": Transport.SSE,
}
KEYS = ("command", "args", "env", "cwd", "url", "headers", "transport", "trust", "enabled", "timeout_s",
        "startup_timeout_s")  # fmt: skip
STDIO_KEYS = frozenset({"command", "args", "env", "cwd"})
HTTP_KEYS = frozenset({"url", "headers"})
FOREIGN_IGNORED = frozenset({"autoApprove", "alwaysAllow", "description", "timeout"})  # other clients' JSON


class McpConfigError(ValueError):
    """A server entry is wrong; the message names the server, the key and the file."""


@dataclass(frozen=True)
class ServerConfig:
    """One configured server. ``env`` and ``headers`` may hold secrets: they are never shown (see ``__repr__``)."""

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    trust: bool = False
    enabled: bool = True
    timeout_s: float | None = None  # per tool call; None: the agent's default
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S

    def __repr__(self) -> str:
        hidden = {"env": sorted(self.env), "headers": sorted(self.headers)}  # names only
        return (
            f"ServerConfig(name={self.name!r}, transport={self.transport.value!r}, target={self.target!r}, "
            f"env={hidden['env']}, headers={hidden['headers']}, trust={self.trust}, enabled={self.enabled})"
        )

    @property
    def target(self) -> str:
        """What it runs or where it connects, for listings (``${VAR}`` left as written)."""
        if self.transport is Transport.STDIO:
            return " ".join([self.command or "", *self.args])
        return self.url or ""

    def resolved(self, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """This config with ``${VAR}`` taken from ``environ``; :class:`McpConfigError` names an unset variable."""
        environ = os.environ if environ is None else environ

        def expand(text: str, key: str) -> str:
            def one(match: re.Match[str]) -> str:
                value = environ.get(match.group(1))
                if value is None and match.group(2) is None:
                    raise McpConfigError(f"${{{match.group(1)}}} in {key} is not set in the environment")
                return value if value is not None else match.group(2)

            return _VAR.sub(one, text)

        return replace(
            self,
            command=expand(self.command, "command") if self.command is not None else None,
            args=tuple(expand(a, "args") for a in self.args),
            env={k: expand(v, f"env.{k}") for k, v in self.env.items()},
            cwd=Path(expand(str(self.cwd), "cwd")) if self.cwd is not None else None,
            url=expand(self.url, "url") if self.url is not None else None,
            headers={k: expand(v, f"headers.{k}") for k, v in self.headers.items()},
        )


def parse_servers(table: Any, source: str, *, foreign: bool = False) -> tuple[ServerConfig, ...]:
    """The servers of a ``mcp_servers`` table (``mcpServers`` object when ``foreign``: another client's JSON)."""
    what = "mcpServers" if foreign else "mcp_servers"
    if not isinstance(table, dict):
        raise McpConfigError(f"{what} in {source}: expected a table of servers ([{what}.NAME])")
    return tuple(_server(name, entry, source, what, foreign) for name, entry in table.items())


def read_file(path: Path) -> tuple[ServerConfig, ...]:
    """The servers in ``path``: JSON ``{"mcpServers": {…}}`` or TOML ``[mcp_servers.NAME]`` tables."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise McpConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise McpConfigError(f"{path}: not valid JSON ({exc})") from None
        if "mcpServers" not in data:
            raise McpConfigError(f'{path}: no "mcpServers" object (the JSON that MCP clients share)')
        return parse_servers(data["mcpServers"], str(path), foreign=True)  # other top-level keys: the client's own
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise McpConfigError(f"{path}: neither JSON nor valid TOML ({exc})") from None
    unknown = [key for key in data if key != "mcp_servers"]
    if unknown:
        raise McpConfigError(f"{path}: unknown key {unknown[0]!r} (an MCP config file holds [mcp_servers.NAME])")
    return parse_servers(data.get("mcp_servers", {}), str(path))


def merge(*groups: tuple[ServerConfig, ...]) -> tuple[ServerConfig, ...]:
    """One list of servers; a later group's server replaces an earlier one of the same name, in place."""
    merged: dict[str, ServerConfig] = {}
    for group in groups:
        for server in group:
            merged[server.name] = server
    return tuple(merged.values())


def _server(name: Any, entry: Any, source: str, what: str, foreign: bool) -> ServerConfig:
    where = f"{what}.{name} in {source}"
    if not isinstance(name, str) or not name or len(name) > NAME_MAX or not name.isprintable():
        raise McpConfigError(f"{where}: a server name is 1 to {NAME_MAX} printable characters")
    if not isinstance(entry, dict):
        raise McpConfigError(f"{where}: expected a table of settings (command = … or url = …)")
    entry = dict(entry)
    if foreign:
        for key in FOREIGN_IGNORED & entry.keys():
            del entry[key]
        if "type" in entry:
            if "transport" in entry:
                raise McpConfigError(f"{where}: give type or transport, not both")
            entry["transport"] = entry.pop("type")
        if "disabled" in entry:
            disabled = entry.pop("disabled")
            if not isinstance(disabled, bool):
                raise McpConfigError(f"{where}: disabled must be true or false")
            entry.setdefault("enabled", not disabled)
    unknown = [key for key in entry if key not in KEYS]
    if unknown:
        raise McpConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")

    def text(key: str) -> str | None:
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise McpConfigError(f"{where}: {key} must be a non-empty string")
        return _checked_vars(value, key, where) if value is not None else None

    def strings(key: str) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise McpConfigError(f"{where}: {key} must be a list of strings")
        return tuple(_checked_vars(v, key, where) for v in value)

    def table(key: str) -> dict[str, str]:
        value = entry.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise McpConfigError(f'{where}: {key} must be a table of strings (KEY = "value")')
        return {k: _checked_vars(v, f"{key}.{k}", where) for k, v in value.items()}

    def flag(key: str, default: bool) -> bool:
        value = entry.get(key, default)
        if not isinstance(value, bool):
            raise McpConfigError(f"{where}: {key} must be true or false")
        return value

    def seconds(key: str) -> float | None:
        value = entry.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise McpConfigError(f"{where}: {key} must be a number of seconds above 0")
        return float(value)

    command, url = text("command"), text("url")
    if command and url:
        raise McpConfigError(f"{where}: give command (a stdio server) or url (an HTTP server), not both")
    if not command and not url:
        raise McpConfigError(f"{where}: needs command (a stdio server) or url (an HTTP server)")
    transport = _transport(entry.get("transport"), where, Transport.STDIO if command else Transport.STREAMABLE_HTTP)
    if transport is Transport.STDIO:
        if not command:
            raise McpConfigError(f"{where}: transport stdio needs command, not url")
        if misplaced := sorted(HTTP_KEYS & entry.keys()):
            raise McpConfigError(f"{where}: {misplaced[0]} is for HTTP servers (url); this one runs a command")
    else:
        if not url:
            raise McpConfigError(f"{where}: transport {transport.value} needs url, not command")
        if not url.startswith(("http://", "https://", "${")):
            raise McpConfigError(f"{where}: url must start with http:// or https://")
        if misplaced := sorted(STDIO_KEYS & entry.keys()):
            raise McpConfigError(f"{where}: {misplaced[0]} is for stdio servers (command); this one has url")
    cwd = text("cwd")
    return ServerConfig(
        name=name,
        transport=transport,
        command=command,
        args=strings("args"),
        env=table("env"),
        cwd=Path(os.path.expanduser(cwd)) if cwd else None,
        url=url,
        headers=table("headers"),
        trust=flag("trust", False),
        enabled=flag("enabled", True),
        timeout_s=seconds("timeout_s"),
        startup_timeout_s=seconds("startup_timeout_s") or DEFAULT_STARTUP_TIMEOUT_S,
    )


def _transport(value: Any, where: str, default: Transport) -> Transport:
    if value is None:
        return default
    if not isinstance(value, str) or value not in TRANSPORT_WORDS:
        raise McpConfigError(f"{where}: transport {value!r} is not one of stdio, streamable-http, sse")
    return TRANSPORT_WORDS[value]


def _checked_vars(value: str, key: str, where: str) -> str:
    if _BAD_VAR.search(value):
        raise McpConfigError(f"{where}: {key} has a ${{ that is not ${{NAME}} or ${{NAME:-default}}")
    return value
