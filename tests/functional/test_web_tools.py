"""web_fetch / web_search against a real HTTP server on 127.0.0.1 (no mocks, no outside network)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from vt_tui.cli import build_parser, settings_from
from vt_tui.core.agent.config import TOOL_RESULT_CHARS
from vt_tui.settings import load
from vt_tui.tools.web import (
    WebConfig,
    WebError,
    _refusal_reason,
    fetch_url,
    get_tools,
    search,
)

ARTICLE_SENTENCE = "Arctic terns fly from pole to pole every year, the longest migration of any animal."
ARTICLE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>The longest commute | Bird News</title></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/sports">Sports</a></li>
<li><a href="/weather">Weather</a></li><li><a href="/login">Log in</a></li></ul></nav>
<div class="ad banner">ADVERTISEMENT: Buy cheap flights now! Subscribe to our newsletter today!</div>
<main><article>
<h1>The longest commute</h1>
<p>{ARTICLE_SENTENCE}</p>
<p>Researchers fitted tiny geolocators to forty birds nesting in Greenland and Iceland and followed
them for two full seasons. The birds did not fly straight south but zigzagged across the Atlantic,
following prevailing winds to save energy on the way.</p>
<p>Over a lifetime of about thirty years a single tern can cover more than two million kilometres,
roughly three return trips to the Moon, according to the study published this spring.</p>
<p>The scientists say the zigzag route adds distance but makes the journey cheaper, because the
birds ride tailwinds and stop to feed in rich waters off the coast of West Africa.</p>
</article></main>
<aside class="sidebar">Trending: Celebrity chef reveals secret recipe. Click here for more deals.</aside>
<footer>Copyright 2024 Bird News Ltd. All rights reserved. Privacy policy. Cookie settings.</footer>
<script>window.tracker = "do-not-show-this-script";</script>
</body></html>
"""
TINY_HTML = "<html><head><title>Tiny</title><script>var hidden = 1;</script></head><body><p>hi</p></body></html>"


@dataclass
class LocalServer:
    port: int
    paths: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer  # with .state: LocalServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state: LocalServer = self.server.state  # type: ignore[attr-defined]
        state.paths.append(self.path)
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client stopped reading
            self.route(parts.path, query, state)

    def route(self, path: str, query: dict[str, str], state: LocalServer) -> None:
        if path == "/article":
            self.send(200, "text/html; charset=utf-8", ARTICLE.encode())
        elif path == "/tiny":
            self.send(200, "text/html", TINY_HTML.encode())
        elif path == "/text":
            self.send(200, "text/plain; charset=iso-8859-1", "Plain café text.\nSecond line.".encode("latin-1"))
        elif path == "/json":
            self.send(200, "application/json", b'{"answer": 42}')
        elif path == "/binary":
            self.send(200, "application/octet-stream", bytes(range(256)) * 64)
        elif path == "/missing":
            self.send(404, "text/html", b"<p>nothing here</p>")
        elif path == "/redirect":
            self.send(302, "text/plain", b"", Location=query["to"])
        elif path == "/loop":
            self.send(302, "text/plain", b"", Location="/loop")
        elif path == "/slow":
            state.stop.wait(10)
            self.send(200, "text/plain", b"too late")
        elif path == "/endless":  # HTTP/1.0 without Content-Length: the body ends when we stop
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            chunk = b"endless line of text\n" * 3000
            while not state.stop.is_set():
                self.wfile.write(chunk)
        elif path == "/searx/search" and query.get("format") == "json":
            q = query["q"]
            results = [
                {"title": f"Result {i} for {q}", "url": f"https://example.org/{i}", "content": f"snippet {i}"}
                for i in range(1, 8)
            ]
            self.send(200, "application/json", json.dumps({"query": q, "results": results}).encode())
        elif path == "/nojson/search":
            self.send(403, "text/html", b"<p>Forbidden</p>")
        else:
            self.send(404, "text/plain", b"not found")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = LocalServer(port=httpd.server_address[1])
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    state.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cfg() -> WebConfig:
    return WebConfig(allow_hosts=("localhost",), timeout_s=5.0)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- fetching allowed pages ------------------------------------------------------------------------


async def test_article_text_is_extracted_without_boilerplate(server: LocalServer, cfg: WebConfig) -> None:
    result = await fetch_url(server.url("/article"), cfg)
    assert result.status == 200
    assert result.content_type == "text/html"
    assert "longest commute" in result.title
    assert ARTICLE_SENTENCE in result.text
    assert "three return trips to the Moon" in result.text
    for boilerplate in ("Subscribe to our newsletter", "Celebrity chef", "Cookie settings", "do-not-show"):
        assert boilerplate not in result.text
    assert not result.truncated


async def test_tiny_html_keeps_title_and_drops_scripts(server: LocalServer, cfg: WebConfig) -> None:
    result = await fetch_url(server.url("/tiny"), cfg)
    assert result.title == "Tiny"
    assert "hi" in result.text
    assert "hidden" not in result.text


async def test_plain_text_uses_declared_charset(server: LocalServer, cfg: WebConfig) -> None:
    result = await fetch_url(server.url("/text"), cfg)
    assert result.text == "Plain café text.\nSecond line."
    assert result.title == ""
    assert result.content_type == "text/plain"


async def test_json_is_returned_verbatim(server: LocalServer, cfg: WebConfig) -> None:
    result = await fetch_url(server.url("/json"), cfg)
    assert json.loads(result.text) == {"answer": 42}


async def test_endless_page_is_truncated_within_time_and_memory(server: LocalServer, cfg: WebConfig) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = await fetch_url(server.url("/endless"), cfg)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.truncated
    assert len(result.text.encode()) == cfg.max_bytes
    assert elapsed < 4.0
    assert peak < 40_000_000  # a few copies of the 2 MB cap, not the endless stream


async def test_slow_page_times_out(server: LocalServer) -> None:
    start = time.perf_counter()
    with pytest.raises(WebError, match=r"timed out after 0\.5 s"):
        await fetch_url(server.url("/slow"), WebConfig(allow_hosts=("localhost",), timeout_s=0.5))
    assert time.perf_counter() - start < 2.0


async def test_binary_content_is_refused(server: LocalServer, cfg: WebConfig) -> None:
    with pytest.raises(WebError, match=r"refused: .* is application/octet-stream"):
        await fetch_url(server.url("/binary"), cfg)


async def test_http_error_status_is_an_error(server: LocalServer, cfg: WebConfig) -> None:
    with pytest.raises(WebError, match="HTTP 404 Not Found"):
        await fetch_url(server.url("/missing"), cfg)


async def test_allowlist_is_case_insensitive_and_may_name_a_port(server: LocalServer) -> None:
    url = server.url("/text", host="LocalHost")
    assert (await fetch_url(url, WebConfig(allow_hosts=(f"LOCALHOST:{server.port}",)))).status == 200
    with pytest.raises(WebError, match=r"localhost resolves to 127\.0\.0\.1, which is a loopback address"):
        await fetch_url(url, WebConfig(allow_hosts=("localhost:1",)))


# --- redirects -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/text", "http://localhost:{port}/text"])
async def test_redirect_to_allowed_host_is_followed(server: LocalServer, cfg: WebConfig, target: str) -> None:
    result = await fetch_url(server.url(f"/redirect?to={target.format(port=server.port)}"), cfg)
    assert result.url == server.url("/text")
    assert result.text.startswith("Plain café text.")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://127.0.0.1:{port}/text", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("file:///etc/passwd", "only http:// and https://"),
    ],
)
async def test_redirect_to_disallowed_host_is_refused(
    server: LocalServer, cfg: WebConfig, target: str, reason: str
) -> None:
    seen = len(server.paths)
    start = time.perf_counter()
    with pytest.raises(WebError, match=f"refused: {re.escape(reason)}"):
        await fetch_url(server.url(f"/redirect?to={target.format(port=server.port)}"), cfg)
    assert time.perf_counter() - start < 1.0
    assert [path.split("?")[0] for path in server.paths[seen:]] == ["/redirect"]


async def test_redirect_loop_stops(server: LocalServer, cfg: WebConfig) -> None:
    with pytest.raises(WebError, match="too many redirects"):
        await fetch_url(server.url("/loop"), cfg)


# --- refused before any connection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/text", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/text", "localhost resolves to 127.0.0.1, which is a loopback address"),
        ("http://2130706433:{port}/text", "resolves to 127.0.0.1, which is a loopback address"),
        ("http://[::1]:{port}/text", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "::ffff:127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address; add the host to --fetch-allow-hosts"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        ("http://100.64.0.1/", "100.64.0.1 is a non-public address"),
        ("http://[fd00::1]/", "fd00::1 is a private address"),
        ("http://169.254.169.254/", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://[fec0::1]/", "fec0::1 is a site-local address"),
        ("http://[2002:a00:1::]/", "2002:a00:1:: is a private address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("file:///etc/passwd", "only http:// and https:// URLs"),
        ("ftp://x", "only http:// and https:// URLs"),
        ("not a url", "only http:// and https:// URLs"),
    ],
)
async def test_disallowed_targets_are_refused_before_connecting(server: LocalServer, url: str, reason: str) -> None:
    seen = len(server.paths)
    start = time.perf_counter()
    with pytest.raises(WebError, match=f"refused: .*{re.escape(reason)}"):
        await fetch_url(url.format(port=server.port), WebConfig(timeout_s=5.0))
    assert time.perf_counter() - start < 0.5
    assert server.paths[seen:] == []


async def test_a_refusal_names_the_setting_that_allows_it(server: LocalServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.port}/text"
    with pytest.raises(WebError) as refused:
        await fetch_url(url, WebConfig(timeout_s=5.0))
    said = "add the host to --fetch-allow-hosts, $VT_TUI_FETCH_ALLOW_HOSTS or fetch_allow_hosts in config.toml"
    assert said in str(refused.value)
    config = tmp_path / "config.toml"
    config.write_text('fetch_allow_hosts = ["127.0.0.1"]\n')
    # each spelling it names is one that works
    for settings in (
        settings_from(
            build_parser().parse_args(["--config", str(tmp_path / "none.toml"), "--fetch-allow-hosts", "127.0.0.1"])
        ),
        load(environ={"VT_TUI_FETCH_ALLOW_HOSTS": "127.0.0.1"}, config_path=tmp_path / "none.toml"),
        load(environ={}, config_path=config),
    ):
        allowed = WebConfig(allow_hosts=settings.fetch_allow_hosts, timeout_s=5.0)
        assert (await fetch_url(url, allowed)).status == 200


PUBLIC = "93.184.216.34"


class Resolver:
    """A DNS for one name whose answers change between lookups (a rebinding attacker's); others resolve as usual."""

    def __init__(self, name: str, *answers: list[str]) -> None:
        self.name, self.answers, self.asked = name, list(answers), 0
        self.real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):  # socket.getaddrinfo's signature
        if host != self.name:
            return self.real(host, port, *args, **kwargs)
        addresses = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]


async def test_dns_rebinding_connects_to_the_checked_address_only(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, no_network_past_loopback: list[str]
) -> None:
    """The name first resolves to a public address (checked, allowed), then to loopback: the connection is pinned
    to the address that was checked, so the second answer is never asked for and the local server sees nothing.
    The pinned attempt is the one the network guard blocks, at the public address."""
    resolver = Resolver("rebind.test", [PUBLIC], ["127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    seen = len(server.paths)
    with pytest.raises(WebError, match=r"fetching http://rebind\.test:\d+/text failed"):
        await fetch_url(f"http://rebind.test:{server.port}/text", WebConfig(timeout_s=5.0))
    assert resolver.asked == 1 and server.paths[seen:] == []
    blocked, no_network_past_loopback[:] = list(no_network_past_loopback), []
    assert blocked == [f"netguard: blocked connection to {PUBLIC}:{server.port} (no test may reach past loopback)"]


async def test_a_public_answer_before_a_loopback_one_is_refused(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", Resolver("mixed.test", [PUBLIC, "127.0.0.1"]))
    seen = len(server.paths)
    with pytest.raises(
        WebError, match=re.escape("refused: mixed.test resolves to 127.0.0.1, which is a loopback address")
    ):
        await fetch_url(f"http://mixed.test:{server.port}/text", WebConfig(timeout_s=5.0))
    assert server.paths[seen:] == []


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert _refusal_reason(ipaddress.ip_address(address)) is None


# --- search ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/searx", "/searx/"])
async def test_searxng_search(server: LocalServer, suffix: str) -> None:
    config = WebConfig(searxng_url=server.url(suffix, host="127.0.0.1"))  # no allowlist needed
    hits = await search("terns & puffins?", config, max_results=3)
    assert [hit.title for hit in hits] == [f"Result {i} for terns & puffins?" for i in (1, 2, 3)]
    assert hits[0].url == "https://example.org/1"
    assert hits[0].snippet == "snippet 1"


async def test_searxng_without_json_format_explains_the_fix(server: LocalServer) -> None:
    with pytest.raises(WebError, match=re.escape("enable 'json' under search.formats")):
        await search("x", WebConfig(searxng_url=server.url("/nojson")))


async def test_searxng_unreachable_is_an_error(server: LocalServer) -> None:
    start = time.perf_counter()
    with pytest.raises(WebError, match="SearxNG search failed"):
        await search("x", WebConfig(searxng_url=f"http://127.0.0.1:{closed_port()}"))
    assert time.perf_counter() - start < 2.0


async def test_empty_query_is_an_error() -> None:
    with pytest.raises(WebError, match="empty search query"):
        await search("  ", WebConfig())


# --- LangChain tools -------------------------------------------------------------------------------


@pytest.fixture
def tools(server: LocalServer) -> dict:
    config = WebConfig(allow_hosts=("localhost",), searxng_url=server.url("/searx"), timeout_s=5.0)
    return {tool.name: tool for tool in get_tools(config)}


def test_tools_are_described_and_marked(tools: dict) -> None:
    assert set(tools) == {"web_search", "web_fetch"}
    assert tools["web_fetch"].metadata == {"risky": True}
    assert tools["web_search"].metadata == {"risky": False}
    assert set(tools["web_fetch"].args) == {"url"}
    assert set(tools["web_search"].args) == {"query"}
    assert all(tool.description for tool in tools.values())


async def test_web_fetch_tool_returns_title_url_and_text(server: LocalServer, tools: dict) -> None:
    text = await tools["web_fetch"].ainvoke({"url": server.url("/article")})
    title, url, _, *body = text.split("\n")
    assert "longest commute" in title
    assert url == server.url("/article")
    assert ARTICLE_SENTENCE in "\n".join(body)


async def test_web_fetch_tool_shortens_long_pages(server: LocalServer, tools: dict) -> None:
    text = await tools["web_fetch"].ainvoke({"url": server.url("/endless")})
    assert len(text) < TOOL_RESULT_CHARS + 500
    assert f"[Showing the first {TOOL_RESULT_CHARS:,} of 2,000,000 characters.]" in text
    assert "only its start was read" in text


async def test_web_fetch_tool_returns_errors_as_text(tools: dict) -> None:
    text = await tools["web_fetch"].ainvoke({"url": "http://169.254.169.254/latest/meta-data"})
    assert text.startswith("Error: refused: 169.254.169.254 is a link-local address")


async def test_web_search_tool_returns_a_numbered_list(tools: dict) -> None:
    text = await tools["web_search"].ainvoke({"query": "terns"})
    lines = text.splitlines()
    assert lines[0] == "1. Result 1 for terns — https://example.org/1"
    assert lines[1] == "   snippet 1"
    assert lines[-2].startswith("5. ")
