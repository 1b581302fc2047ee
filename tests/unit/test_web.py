"""vt-tui web's rules without a server: the token check, what is printed, and the settings each tab gets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vt_tui.cli import build_parser, given_settings, settings_from
from vt_tui.settings import load
from vt_tui.web.banner import banner, exposure_warning, is_loopback, page_url, ssh_command
from vt_tui.web.guard import REDACTED, RedactToken, new_token, same_origin, token_matches
from vt_tui.web.server import tab_command, tab_environment

TOKEN = new_token()
SSH = {"USER": "alice", "SSH_CONNECTION": "10.0.0.9 50122 10.0.0.5 22"}


def test_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


@pytest.mark.parametrize(
    ("given", "ok"),
    [(TOKEN, True), (TOKEN[:-1], False), (TOKEN + "x", False), ("", False), (None, False), ("é" * 43, False)],
)
def test_only_the_token_itself_matches(given: str | None, ok: bool) -> None:
    assert token_matches(TOKEN, given) is ok


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (None, "127.0.0.1:8765", True),  # not a browser: the token alone decides
        ("http://127.0.0.1:8765", "127.0.0.1:8765", True),
        ("http://LOCALHOST:9000", "localhost:9000", True),  # through ssh -L 9000:…
        ("http://127.0.0.1:9000", "127.0.0.1:8765", False),
        ("https://evil.example", "127.0.0.1:8765", False),
        ("null", "127.0.0.1:8765", False),  # a sandboxed frame or a file:// page
    ],
)
def test_websocket_origin_must_be_the_page_s_own(origin: str | None, host: str, ok: bool) -> None:
    assert same_origin(origin, host) is ok


def test_the_token_never_reaches_the_log_file(tmp_path: Path) -> None:
    handler = logging.FileHandler(tmp_path / "log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.addFilter(RedactToken(TOKEN))
    log = logging.getLogger("aiohttp.test-web")
    log.addHandler(handler)
    try:
        log.error("GET /ws/%s?width=80 failed", TOKEN)
        log.warning(f"request /?token={TOKEN}")
        try:
            raise ConnectionResetError(f"lost ws://127.0.0.1/ws/{TOKEN}")
        except ConnectionResetError:
            log.exception("handler failed")
    finally:
        log.removeHandler(handler)
        handler.close()
    written = (tmp_path / "log").read_text()
    assert TOKEN not in written
    assert written.count(REDACTED) == 3 and "ConnectionResetError" in written


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("", False), ("192.168.1.20", False), ("gpubox.lan", False)],
)  # fmt: skip
def test_loopback_is_recognised_and_anything_else_warns(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert bool(exposure_warning(host, 8765, "http://x/v1", "/db")) is not loopback


def test_the_printed_lines_for_the_default_bind_over_ssh() -> None:
    lines = banner("127.0.0.1", 8765, TOKEN, "http://127.0.0.1:8000/v1", "/db", SSH).splitlines()
    assert lines[0] == "vt-tui web: each browser tab is its own vt-tui, all on http://127.0.0.1:8000/v1."
    assert lines[1] == f"  Open:  http://127.0.0.1:8765/?token={TOKEN}"
    assert lines[2] == "  From your own machine: ssh -L 8765:127.0.0.1:8765 alice@10.0.0.5"
    assert lines[3] == "  then open the same URL there."
    assert not any("WARNING" in line for line in lines)


def test_without_ssh_the_host_is_this_machine_s_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "gpubox")
    assert ssh_command("127.0.0.1", 9001, {"USER": "bob"}) == "ssh -L 9001:127.0.0.1:9001 bob@gpubox"


def test_a_wider_bind_says_what_it_exposes() -> None:
    text = banner("0.0.0.0", 8765, TOKEN, "http://127.0.0.1:8000/v1", "/home/a/conversations.sqlite3", SSH)
    warning = text.split("vt-tui web:")[0]
    assert warning.startswith("WARNING: listening on every address of this machine, port 8765")
    for exposed in ("http://127.0.0.1:8000/v1", "/home/a/conversations.sqlite3", "tools", "unencrypted"):
        assert exposed in warning
    assert TOKEN not in warning
    assert "ssh -L 8765:127.0.0.1:8765 alice@10.0.0.5" in text  # 0.0.0.0 includes loopback


def test_a_specific_address_is_the_url_and_the_ssh_target_ipv6_in_brackets() -> None:
    assert page_url("fd00::7", 8765, "t") == "http://[fd00::7]:8765/?token=t"
    assert ssh_command("fd00::7", 8765, SSH) == "ssh -L 8765:[fd00::7]:8765 alice@10.0.0.5"
    text = banner("192.168.1.20", 8765, "t", "e", "d", SSH)
    assert "Open:  http://192.168.1.20:8765/?token=t" in text
    assert "then open http://127.0.0.1:8765/?token=t" in text  # at the laptop's end of the tunnel


def test_tabs_get_the_flags_as_settings_of_the_same_rank(tmp_path: Path) -> None:
    """The flags given to `vt-tui web`, turned into $VT_TUI_*, load as the same settings in a tab (over a
    config file that says otherwise, as flags would)."""
    config = tmp_path / "config.toml"
    config.write_text('temperature = 0.9\ntools = "native"\n')
    args = build_parser().parse_args(
        ["web", "--config", str(config), "--base-url", "http://127.0.0.1:8000/v1", "--api-key", "sk-secret",
         "--temperature", "0.2", "--tools", "off", "--no-speak", "--metrics-urls", "http://a/m,http://b/m",
         "--keymap", "retry=f12 talk=ctrl+t,f6", "--threads", "3"]
    )  # fmt: skip
    environ = {k: v for k, v in tab_environment(given_settings(args), None).items() if v is not None}
    assert load(environ=environ, config_path=config) == settings_from(args)
    assert load(environ=environ, config_path=config).api_key == "sk-secret"


def test_with_the_embedded_default_tabs_share_its_url_and_get_no_api_key() -> None:
    changes = tab_environment({"temperature": "0.3"}, "http://127.0.0.1:40111/v1")
    assert changes == {
        "VT_TUI_TEMPERATURE": "0.3",
        "VT_TUI_BASE_URL": "http://127.0.0.1:40111/v1",
        "VT_TUI_API_KEY": None,
        "OPENAI_API_KEY": None,
    }


def test_tabs_get_the_embedded_servers_window_as_their_context_window(tmp_path: Path) -> None:
    """A tab sees the shared server as any llama-cpp-python server, which does not say its window: it is told."""
    changes = tab_environment({}, "http://127.0.0.1:40111/v1", 8192)
    environ = {name: value for name, value in changes.items() if value is not None}
    assert load(environ=environ, config_path=tmp_path / "config.toml").context_window == 8192
    assert "VT_TUI_CONTEXT_WINDOW" not in tab_environment({}, "http://127.0.0.1:40111/v1")


@pytest.mark.parametrize("port", ["0", "70000", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["web", "--port", port])
    assert exited.value.code == 2 and "is not a port (1-65535)" in capsys.readouterr().err


def test_the_tab_command_carries_no_setting(tmp_path: Path) -> None:
    """Settings (an API key among them) travel in the environment: `ps` shows every user the command line."""
    command = tab_command(tmp_path / "my config.toml")
    assert command.startswith("exec ") and command.endswith(f"-m vt_tui.web.tab --config '{tmp_path}/my config.toml'")
    assert tab_command(None).endswith("-m vt_tui.web.tab")
