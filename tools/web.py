"""Web tools for the agent: ``web_search`` (SearxNG or DuckDuckGo) and ``web_fetch`` (page → text).

``fetch_url`` guards against server-side request forgery: only http(s), and every hop of a redirect
chain is resolved and refused if *any* address is loopback, private, link-local (cloud metadata),
unspecified, multicast or otherwise non-public, unless its host is in ``WebConfig.allow_hosts``.
The connection then goes to the very address that was checked (the URL's host is replaced by the
IP; the Host header and TLS SNI/certificate check keep the name), so DNS rebinding between check
and connect cannot redirect it. Proxies from the environment are ignored for the same reason.

The configured SearxNG URL is trusted as-is (it is the user's own setting and usually a local
address), so searching needs no allowlist entry.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Annotated

import httpx
import trafilatura
from ddgs import DDGS
from ddgs.exceptions import DDGSException
from langchain_core.tools import BaseTool, StructuredTool, ToolException

from vt_tui.core.agent.config import cut_result
from vt_tui.settings import spelled

MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = HTML_TYPES | {"text/plain", "text/markdown", "application/json"}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebError(Exception):
    """A fetch or search failed or was refused; the message is meant for the model and the user."""


@dataclass(frozen=True)
class WebConfig:
    """Settings for both tools; ``allow_hosts`` lets fetches reach local/private hosts by name."""

    allow_hosts: tuple[str, ...] = ()
    searxng_url: str | None = None
    max_bytes: int = 2_000_000
    timeout_s: float = 15.0
    user_agent: str = "vt-tui/0.1"


@dataclass(frozen=True)
class FetchResult:
    url: str  # after redirects
    status: int
    content_type: str
    title: str
    text: str
    truncated: bool  # the body was cut at WebConfig.max_bytes


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    snippet: str


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # shared: building one per client costs ~40 ms


def _client(config: WebConfig, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An HTTP client that ignores proxy settings from the environment (they would bypass the checks)."""
    return httpx.AsyncClient(
        headers={"User-Agent": config.user_agent, **(headers or {})},
        timeout=config.timeout_s,
        trust_env=False,
        verify=_ssl_context(),
    )


@asynccontextmanager
async def _guard(action: str, timeout_s: float) -> AsyncIterator[None]:
    """Apply the overall time cap and turn network errors into WebError."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except (TimeoutError, httpx.TimeoutException):
        raise WebError(f"{action} timed out after {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise WebError(f"{action} failed: {str(exc) or type(exc).__name__}") from None


# --- fetch -----------------------------------------------------------------------------------------


async def fetch_url(url: str, config: WebConfig) -> FetchResult:
    """GET ``url`` (following up to 5 checked redirects) and return its readable text.

    ``timeout_s`` caps the network part (DNS, redirects, body). HTML extraction runs afterwards in a
    worker thread; on a slow CPU a maximal (2 MB, element-heavy) page can take several seconds.
    """
    try:
        current = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise WebError(f"invalid URL {url!r}: {exc}") from None
    async with (
        _guard(f"fetching {url}", config.timeout_s),
        _client(config, {"Accept-Encoding": "identity"}) as client,  # identity: no decompression bombs
    ):
        for _ in range(MAX_REDIRECTS + 1):
            target, extra_headers, extensions = await _pinned_request(current, config)
            async with client.stream("GET", target, headers=extra_headers, extensions=extensions) as response:
                if response.is_redirect:
                    current = _redirect_url(current, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise WebError(f"HTTP {response.status_code} {response.reason_phrase} from {current}")
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type not in TEXT_TYPES:
                    raise WebError(
                        f"refused: {current} is {content_type or 'of unknown type'}; "
                        "only HTML, plain text, Markdown and JSON can be read"
                    )
                body, truncated = await _read_capped(response, config.max_bytes)
                text = _decode(body, response.charset_encoding)
                status = response.status_code
                break
        else:
            raise WebError(f"too many redirects (more than {MAX_REDIRECTS}) from {url}")
    title = ""
    if content_type in HTML_TYPES:
        title, text = await asyncio.to_thread(_html_to_text, text)
    return FetchResult(str(current), status, content_type, title, text, truncated)


def _redirect_url(current: httpx.URL, location: str) -> httpx.URL:
    try:
        return current.join(location)
    except httpx.InvalidURL as exc:
        raise WebError(f"invalid redirect from {current} to {location!r}: {exc}") from None


async def _pinned_request(url: httpx.URL, config: WebConfig) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """Check ``url`` and return (URL to connect to, extra headers, request extensions)."""
    if url.scheme not in DEFAULT_PORTS:
        got = f"a {url.scheme}: URL" if url.scheme else repr(str(url))
        raise WebError(f"refused: only http:// and https:// URLs can be fetched, not {got}")
    if not url.host:
        raise WebError(f"refused: {url} has no host")
    if _is_allowlisted(url, config.allow_hosts):
        return url, {}, {}
    host = url.raw_host.decode("ascii")  # IDNA-encoded
    literal = _ip_literal(host)
    addresses = [literal] if literal else await _resolve(host, url.port or DEFAULT_PORTS[url.scheme])
    for address in addresses:
        if reason := _refusal_reason(address):
            where = url.host if literal else f"{url.host} resolves to {address}, which"
            allow = spelled("fetch_allow_hosts")
            raise WebError(f"refused: {where} is {reason} address; add the host to {allow} to allow it")
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    # Connect to the first checked address (no fallback to the others if it is unreachable).
    return url.copy_with(host=str(addresses[0])), {"Host": url.netloc.decode("ascii")}, extensions


def _is_allowlisted(url: httpx.URL, allow_hosts: tuple[str, ...]) -> bool:
    """``allow_hosts`` entries are host names or IPs as written in URLs, optionally with ``:port``."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or DEFAULT_PORTS[url.scheme]
    names = {url.host, host, f"{host}:{port}"}
    return any(entry.strip().lower() in names for entry in allow_hosts)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    except OSError as exc:
        raise WebError(f"could not resolve host {host!r}: {exc.strerror or exc}") from None
    # sockaddr[0] may carry an IPv6 scope ("fe80::1%eth0"); ipaddress keeps it and still classifies.
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _refusal_reason(address: IPAddress) -> str | None:
    """Why a connection to ``address`` is refused ("a loopback", ...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):  # IPv4 embedded in IPv6 (::ffff:a.b.c.d, 6to4)
        address = address.ipv4_mapped or address.sixtofour or address
    checks = (
        ("is_loopback", "a loopback"),
        ("is_site_local", "a site-local"),  # deprecated fec0::/10, IPv6 only
        ("is_link_local", "a link-local"),
        ("is_unspecified", "an unspecified"),
        ("is_multicast", "a multicast"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute, False):
            return reason
    return None if address.is_global else "a non-public"


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read at most ``max_bytes`` of the body (plus one chunk); report whether it was cut."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            break
    body = b"".join(chunks)
    return body[:max_bytes], size > max_bytes


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # unknown charset name
        return body.decode("utf-8", errors="replace")


def _html_to_text(html: str) -> tuple[str, str]:
    """(title, main text): trafilatura finds the main text; a plain tag strip when it finds none."""
    tree = trafilatura.load_html(html)
    if tree is None:
        return "", _TagStripper.strip(html)
    title = " ".join((tree.findtext(".//title") or "").split())
    # No metadata extraction: dates and authors cost ~40% of the time and only the title is used.
    document = trafilatura.bare_extraction(tree, include_links=False, include_comments=False, include_images=False)
    if document is not None and document.text:
        return title, document.text
    return title, _TagStripper.strip(html)


class _TagStripper(HTMLParser):
    """Visible text of an HTML page, without its head, scripts and styles."""

    HIDDEN = frozenset({"title", "script", "style", "noscript", "template"})
    BREAKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._hidden = 0
        self._text: list[str] = []

    @classmethod
    def strip(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        parser.close()
        lines = (" ".join(line.split()) for line in "".join(parser._text).splitlines())
        return "\n".join(line for line in lines if line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in self.HIDDEN
        self.handle_startendtag(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BREAKS:
            self._text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._text.append(data)


# --- search ----------------------------------------------------------------------------------------


async def search(query: str, config: WebConfig, max_results: int = 5) -> list[SearchHit]:
    """Search with the configured SearxNG instance, or DuckDuckGo (via ``ddgs``) when none is set."""
    if not query.strip():
        raise WebError("empty search query")
    if config.searxng_url:
        hits = await _search_searxng(query, config, max_results)
    else:
        hits = await _search_ddgs(query, config, max_results)
    return hits[:max_results]


async def _search_searxng(query: str, config: WebConfig, max_results: int) -> list[SearchHit]:
    url = f"{config.searxng_url.rstrip('/')}/search"
    async with _guard("SearxNG search", config.timeout_s), _client(config) as client:
        response = await client.get(url, params={"q": query, "format": "json"})
    if response.status_code == 403:
        raise WebError(
            "SearxNG refused the JSON API (HTTP 403); enable 'json' under search.formats in its settings.yml"
        )
    if response.status_code != 200:
        raise WebError(f"SearxNG search failed: HTTP {response.status_code} from {url}")
    try:
        results = response.json()["results"]
        return [
            SearchHit(str(r.get("title") or ""), str(r["url"]), str(r.get("content") or ""))
            for r in results[:max_results]
            if r.get("url")
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise WebError(f"SearxNG search failed: unexpected response from {url}") from None


async def _search_ddgs(query: str, config: WebConfig, max_results: int) -> list[SearchHit]:
    def run() -> list[dict[str, str]]:
        return DDGS(timeout=max(1, round(config.timeout_s))).text(query, max_results=max_results)

    try:
        async with asyncio.timeout(config.timeout_s):
            results = await asyncio.to_thread(run)
    except TimeoutError:
        raise WebError(f"web search timed out after {config.timeout_s:g} s") from None
    except DDGSException as exc:
        raise WebError(f"web search failed: {exc}") from None
    return [SearchHit(r.get("title", ""), r["href"], r.get("body", "")) for r in results if r.get("href")]


# --- LangChain tools -------------------------------------------------------------------------------


def format_hits(hits: list[SearchHit]) -> str:
    if not hits:
        return "No results."
    return "\n".join(f"{i}. {hit.title} — {hit.url}\n   {hit.snippet}" for i, hit in enumerate(hits, 1))


def format_page(result: FetchResult, config: WebConfig) -> str:
    head = f"{result.title}\n{result.url}" if result.title else result.url
    text = result.text.strip() or "(no readable text)"
    parts = [head, cut_result(text)]
    if result.truncated:
        parts.append(f"[The page is larger than {config.max_bytes:,} bytes; only its start was read.]")
    return "\n\n".join(parts)


def get_tools(config: WebConfig) -> list[BaseTool]:
    """``web_search`` and ``web_fetch`` bound to ``config``; errors are returned to the model as text."""

    async def web_search(query: Annotated[str, "what to search for, like a search engine query"]) -> str:
        try:
            return format_hits(await search(query, config))
        except WebError as exc:
            raise ToolException(f"Error: {exc}") from None

    async def web_fetch(url: Annotated[str, "the full http:// or https:// address of the page"]) -> str:
        try:
            return format_page(await fetch_url(url, config), config)
        except WebError as exc:
            raise ToolException(f"Error: {exc}") from None

    return [
        StructuredTool.from_function(
            coroutine=web_search,
            description="Search the web. Returns a numbered list of results with title, URL and snippet. "
            "Use web_fetch on a result's URL to read the page.",
            handle_tool_error=True,
            metadata={"risky": False},
        ),
        StructuredTool.from_function(
            coroutine=web_fetch,
            description="Read a web page: fetches an http(s) URL and returns its title and main text.",
            handle_tool_error=True,
            metadata={"risky": True},
        ),
    ]
