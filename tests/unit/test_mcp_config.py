"""MCP server configuration: [mcp_servers.NAME] in config.toml, --mcp-config (TOML or mcpServers JSON), errors that
name the server and the key, ${VAR} from the environment, secrets never shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vt_tui.cli import build_parser, settings_from
from vt_tui.core.mcp.config import McpConfigError, Transport, parse_servers, read_file
from vt_tui.settings import SettingsError, load

CONFIG = """
[mcp_servers.notes]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "~/notes"]
env = { LOG_LEVEL = "warn" }

[mcp_servers.search]
url = "http://127.0.0.1:8808/mcp"
headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
trust = true
timeout_s = 5

[mcp_servers.old]
url = "http://127.0.0.1:8809/sse"
transport = "sse"
enabled = false
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_toml_tables_become_typed_servers(tmp_path: Path) -> None:
    settings = load(environ={}, config_path=write(tmp_path / "config.toml", CONFIG))
    notes, search, old = settings.mcp_servers
    assert (notes.name, notes.transport, notes.command) == ("notes", Transport.STDIO, "npx")
    assert notes.args[-1] == "~/notes" and notes.env == {"LOG_LEVEL": "warn"} and not notes.trust
    assert search.transport is Transport.STREAMABLE_HTTP and search.trust and search.timeout_s == 5.0
    assert old.transport is Transport.SSE and not old.enabled


def test_no_servers_by_default(tmp_path: Path) -> None:
    assert load(environ={}, config_path=tmp_path / "missing.toml").mcp_servers == ()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('comand = "npx"', r"mcp_servers\.notes in .*config\.toml: unknown key 'comand'"),
        ('command = "npx"\nargs = "-y"', r"mcp_servers\.notes in .*: args must be a list of strings"),
        ('command = "npx"\nenv = { A = 1 }', r"mcp_servers\.notes in .*: env must be a table of strings"),
        ('command = "npx"\nurl = "http://x/mcp"', r"mcp_servers\.notes in .*: give command .* or url .*, not both"),
        ("trust = true", r"mcp_servers\.notes in .*: needs command .* or url"),
        ('url = "ftp://x/mcp"', r"mcp_servers\.notes in .*: url must start with http:// or https://"),
        ('url = "http://x/mcp"\ntransport = "websocket"', r"mcp_servers\.notes in .*: transport 'websocket'"),
        ('command = "npx"\ntransport = "sse"', r"mcp_servers\.notes in .*: transport sse needs url"),
        ('command = "npx"\nheaders = { A = "b" }', r"mcp_servers\.notes in .*: headers is for HTTP servers"),
        ('url = "http://x/mcp"\ncwd = "/tmp"', r"mcp_servers\.notes in .*: cwd is for stdio servers"),
        ('command = "npx"\ntrust = "yes"', r"mcp_servers\.notes in .*: trust must be true or false"),
        ('command = "npx"\ntimeout_s = 0', r"mcp_servers\.notes in .*: timeout_s must be a number of seconds"),
        ('command = "npx"\nargs = ["${TOKEN"]', r"mcp_servers\.notes in .*: args has a \$\{ that is not"),
    ],
)
def test_bad_entries_name_the_server_and_the_key(tmp_path: Path, entry: str, message: str) -> None:
    config = write(tmp_path / "config.toml", f"[mcp_servers.notes]\n{entry}\n")
    with pytest.raises(SettingsError, match=message):
        load(environ={}, config_path=config)


def test_mcp_servers_must_be_tables(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"mcp_servers in .*: expected a table of servers"):
        load(environ={}, config_path=write(tmp_path / "c.toml", 'mcp_servers = "notes"\n'))
    with pytest.raises(SettingsError, match=r"mcp_servers\.notes in .*: expected a table of settings"):
        load(environ={}, config_path=write(tmp_path / "c.toml", 'mcp_servers = { notes = "npx" }\n'))


CLAUDE_STYLE = {
    "globalShortcut": "Ctrl+Space",
    "mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]},
        "remote": {"type": "http", "url": "https://mcp.internal/mcp", "headers": {"X-Key": "${KEY}"}},
        "legacy": {"type": "sse", "url": "http://127.0.0.1:9000/sse", "disabled": True, "autoApprove": ["x"]},
    },
}


def test_mcp_config_reads_the_json_other_clients_write(tmp_path: Path) -> None:
    path = write(tmp_path / "mcp.json", json.dumps(CLAUDE_STYLE))
    files, remote, legacy = read_file(path)
    assert files.transport is Transport.STDIO and files.args[-1] == "/srv"
    assert remote.transport is Transport.STREAMABLE_HTTP and remote.headers == {"X-Key": "${KEY}"}
    assert legacy.transport is Transport.SSE and not legacy.enabled


def test_mcp_config_flag_joins_config_toml_and_wins_on_a_name(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", CONFIG)
    extra = write(tmp_path / "extra.json", json.dumps({"mcpServers": {"notes": {"command": "uvx", "args": ["x"]}}}))
    args = build_parser().parse_args(["--config", str(config), "--mcp-config", str(extra), "mcp"])
    servers = settings_from(args).mcp_servers
    assert [s.name for s in servers] == ["notes", "search", "old"]
    assert servers[0].command == "uvx" and servers[0].args == ("x",)


def test_mcp_config_from_the_environment_and_as_toml(tmp_path: Path) -> None:
    extra = write(tmp_path / "servers.toml", '[mcp_servers.git]\ncommand = "uvx"\nargs = ["mcp-server-git"]\n')
    settings = load(environ={"VT_TUI_MCP_CONFIG": str(extra)}, config_path=tmp_path / "missing.toml")
    assert [(s.name, s.command) for s in settings.mcp_servers] == [("git", "uvx")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"servers": {}}', r'no "mcpServers" object'),
        ('{"mcpServers": {"x": {"command": "a", "cmd": "b"}}}', r"mcpServers\.x in .*: unknown key 'cmd'"),
        ('{"mcpServers": {"x": {"command": "a", "type": "ws"}}}', r"mcpServers\.x in .*: transport 'ws'"),
        ("{not json", r"not valid JSON"),
        ('[mcp_server.x]\ncommand = "a"\n', r"unknown key 'mcp_server'"),
    ],
)
def test_bad_mcp_config_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(McpConfigError, match=message):
        read_file(write(tmp_path / "mcp.conf", text))


def test_a_missing_mcp_config_file_stops_the_cli_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vt_tui", "--config", str(tmp_path / "none.toml"), "--mcp-config",
         str(tmp_path / "nope.json"), "mcp"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "nope.json: cannot be read" in result.stderr and "Traceback" not in result.stderr


def test_variables_are_taken_when_the_server_starts() -> None:
    (server,) = parse_servers(
        {"s": {"url": "http://h/${PATH_PART:-mcp}", "headers": {"Authorization": "Bearer ${TOKEN}"}}}, "t"
    )
    resolved = server.resolved({"TOKEN": "sk-secret"})
    assert resolved.headers == {"Authorization": "Bearer sk-secret"} and resolved.url == "http://h/mcp"
    assert server.headers == {"Authorization": "Bearer ${TOKEN}"}, "the config itself keeps the reference"
    with pytest.raises(McpConfigError, match=r"\$\{TOKEN\} in headers\.Authorization is not set"):
        server.resolved({})


def test_secrets_are_never_shown(tmp_path: Path) -> None:
    config = write(
        tmp_path / "config.toml",
        '[mcp_servers.gh]\ncommand = "gh-mcp"\nenv = { GITHUB_TOKEN = "ghp_literal_secret" }\n'
        '[mcp_servers.api]\nurl = "https://x/mcp"\nheaders = { Authorization = "Bearer sk-literal" }\n',
    )
    settings = load(environ={}, config_path=config)
    shown = repr(settings)
    assert "ghp_literal_secret" not in shown and "sk-literal" not in shown
    assert "GITHUB_TOKEN" in shown and "Authorization" in shown
