"""A real HTTP server on 127.0.0.1 that serves fixture pages the way engines and GPU exporters do.

Pages can be changed while it runs (a counter moves on) and the server can be stopped and started
again on the same port (a host lost, then back).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class MetricsServer:
    """`pages`: path -> body (str for text/plain Prometheus, anything else is sent as JSON) or (status, body)."""

    def __init__(self, pages: dict[str, Any], port: int = 0) -> None:
        self.pages = dict(pages)
        self.requests: list[str] = []
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> MetricsServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                page = server.pages.get(self.path)
                status, body = page if isinstance(page, tuple) else (200 if page is not None else 404, page)
                text = body if isinstance(body, str) else json.dumps(body) if body is not None else "not found"
                kind = "text/plain; version=0.0.4" if isinstance(body, str) else "application/json"
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
