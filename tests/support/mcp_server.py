"""A real MCP server for tests, written with the ``mcp`` SDK's FastMCP, run by the tests as its own process.

``python tests/support/mcp_server.py --name notes [--transport stdio|streamable-http|sse --port N]``

Every instance offers the same tools, so two instances offer a tool of the same name (``search``), and any instance
can crash mid-call (``crash``), hang (``hang``), return an error (``fail``), structured content (``lookup``), an
image (``picture``) or a long text (``long_text``), or take a URL (``fetch``: only says which, touching nothing).
Start-up faults: ``--hang-at-start`` (never answers, and ignores the end of its stdin), ``--exit-at-start CODE``
(one line on stderr, then exits). ``--pid-file`` records its pid
and, with ``--grandchild``, that of a ``sleep`` it starts, which lives on after the server unless its whole process
group is ended (what the guard does when vt-tui is killed).

:func:`command` builds the command line for a stdio server; :func:`http_server` runs one on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

SCRIPT = Path(__file__).resolve()
# A 1×1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def command(name: str, *options: str) -> list[str]:
    """argv of a stdio server called ``name``."""
    return [sys.executable, str(SCRIPT), "--name", name, *options]


@contextlib.contextmanager
def http_server(name: str, transport: str = "streamable-http", *options: str) -> Iterator[str]:
    """Run an HTTP server on a free 127.0.0.1 port until the block ends; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [*command(name, "--transport", transport, "--port", str(port), *options)], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test MCP server did not start (exit code {process.poll()})")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/{'sse' if transport == 'sse' else 'mcp'}"
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="test")
    parser.add_argument("--transport", default="stdio", choices=["stdio", "streamable-http", "sse"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--grandchild", action="store_true")
    parser.add_argument("--hang-at-start", action="store_true")
    parser.add_argument("--exit-at-start", type=int)
    args = parser.parse_args()

    pids = [os.getpid()]
    if args.grandchild:
        pids.append(subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL).pid)
    if args.pid_file:
        args.pid_file.write_text(" ".join(map(str, pids)))
    print(f"test MCP server {args.name} starting", file=sys.stderr, flush=True)
    if args.exit_at_start is not None:
        print(f"{args.name}: cannot open the notes folder", file=sys.stderr, flush=True)
        sys.exit(args.exit_at_start)
    if args.hang_at_start:
        time.sleep(3600)

    from mcp.server.fastmcp import FastMCP, Image
    from mcp.server.fastmcp.exceptions import ToolError

    server = FastMCP(args.name, host="127.0.0.1", port=args.port or 8000, log_level="WARNING")

    @server.tool()
    def search(query: str, limit: int = 3) -> str:
        """Search the notes. Returns matching lines."""
        return "\n".join(f"{args.name}: result {n} for {query!r}" for n in range(1, limit + 1))

    @server.tool()
    def lookup(key: str) -> dict:
        """Look a key up; returns structured data."""
        return {"key": key, "server": args.name, "found": True}

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails with the given reason."""
        raise ToolError(f"cannot do that: {reason}")

    @server.tool()
    def crash() -> str:
        """Crashes the server in the middle of the call."""
        print(f"{args.name}: crashing on purpose", file=sys.stderr, flush=True)
        os._exit(3)

    @server.tool()
    async def hang() -> str:
        """Never returns."""
        import anyio

        await anyio.sleep(3600)
        return "late"

    @server.tool()
    def picture() -> list:
        """A tiny picture with a caption."""
        return ["a red dot", Image(data=PNG, format="png")]

    @server.tool()
    def fetch(url: str) -> str:
        """Says which URL it was given (a tool that takes a URL; what it does with it is the server's business)."""
        return f"{args.name} was given {url}"

    @server.tool()
    def long_text(chars: int) -> str:
        """A text of the given length."""
        return ("0123456789" * (chars // 10 + 1))[:chars]

    server.run(args.transport)


if __name__ == "__main__":
    main()
