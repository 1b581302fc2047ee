"""A scripted OpenAI-compatible server on 127.0.0.1: real HTTP/1.1, real SSE, deterministic replies.

Tests queue :class:`Reply` objects; each chat request takes the next one (or, with none queued, an echo of the
last user message). Every request is recorded, and so is every TCP connection, so tests can assert on the
exact body vt-tui sent and on keep-alive reuse. Also usable as a stand-alone server for benches and demos:
``python -m tests.support.scripted_server --port 8011``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer to a chat request."""

    chunks: list[dict[str, Any]] = field(default_factory=list)  # raw `delta` dicts, one SSE event each
    finish_reason: str | None = "stop"
    usage: dict[str, Any] | None = None
    status: int = 200
    body: Any = None  # for non-200 replies (dict → JSON, str → text/plain)
    headers_delay: float = 0.0  # before the status line
    first_byte_delay: float = 0.0  # after the headers, before the first event
    chunk_delay: float = 0.0  # between events
    cut_after: int | None = None  # close the socket after this many events, no [DONE]
    malformed_at: int | None = None  # send broken JSON as this event
    close: bool = False  # drop the connection after the reply without saying so (LLaMA-Factory's 500s)
    message: dict[str, Any] | None = None  # for non-streamed requests: the assistant message
    extra_events: list[str] = field(default_factory=list)  # raw `data:` payloads sent before [DONE]


def text_reply(text: str, *, pieces: int | None = None, **kw: Any) -> Reply:
    """Stream ``text`` word by word (or in ``pieces`` equal parts)."""
    if pieces:
        step = max(1, len(text) // pieces)
        parts = [text[i : i + step] for i in range(0, len(text), step)]
    else:
        words = text.split(" ")
        parts = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    return Reply(chunks=[{"content": p} for p in parts], message={"role": "assistant", "content": text}, **kw)


def tool_call_reply(calls: list[tuple[str, str, str]], *, split: int = 1, repeat_id: bool = False) -> Reply:
    """Stream tool calls ``(id, name, json_args)``; arguments split into ``split`` pieces per call."""
    chunks: list[dict[str, Any]] = []
    for index, (call_id, name, args) in enumerate(calls):
        step = max(1, -(-len(args) // split))
        for n, i in enumerate(range(0, max(len(args), 1), step)):
            first = n == 0
            call: dict[str, Any] = {"index": index, "function": {"arguments": args[i : i + step]}}
            if first or repeat_id:
                call.update(id=call_id, type="function")
                call["function"]["name"] = name
            chunks.append({"tool_calls": [call]})
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c, "type": "function", "function": {"name": n, "arguments": a}} for c, n, a in calls
        ],
    }
    return Reply(chunks=chunks, finish_reason="tool_calls", message=message)


class ScriptedServer:
    def __init__(self, models: list[str] | None = None, *, owned_by: str = "scripted", port: int = 0) -> None:
        self.models = models or ["scripted-model"]
        self.owned_by = owned_by
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.server_header = "scripted"
        self.api_key: str | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.replies:
                return self.replies.popleft()
        last = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {})
        content = last.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        return text_reply(f"You said: {text}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.connections += 1

            def log_message(self, *args: Any) -> None:
                pass

            def version_string(self) -> str:
                return server.server_header

            def _record(self, body: Any) -> None:
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})

            def _authorized(self) -> bool:
                if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return True
                self._json(401, {"error": {"message": "Invalid API key.", "type": "invalid_request_error"}})
                return False

            def _json(self, status: int, payload: Any, close: bool = False) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                ctype = "application/json" if not isinstance(payload, bytes) else "text/plain"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if close:
                    self.close_connection = True

            def do_GET(self) -> None:
                self._record(None)
                if not self._authorized():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model", "owned_by": server.owned_by} for m in server.models]
                    self._json(200, {"object": "list", "data": data})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                self._record(body)
                if not self._authorized():
                    return
                if not self.path.endswith("/chat/completions") or not isinstance(body, dict):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server._next_reply(body)
                time.sleep(reply.headers_delay)
                if reply.status != 200:
                    payload = reply.body if not isinstance(reply.body, str) else reply.body.encode()
                    self._json(reply.status, payload if payload is not None else {"error": {"message": "x"}})
                    if reply.close:
                        self._drop()
                    return
                if body.get("stream"):
                    self._stream(reply, body)
                else:
                    self._json(200, self._completion(reply, body))
                if reply.close:
                    self._drop()

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _completion(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
                message = reply.message or {
                    "role": "assistant",
                    "content": "".join(c.get("content") or "" for c in reply.chunks),
                }
                return {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
                    "usage": reply.usage,
                }

            def _event(self, payload: str) -> None:
                data = f"data: {payload}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                time.sleep(reply.first_byte_delay)
                model = body.get("model", "")
                base = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                }
                events = [{"role": "assistant", "content": ""}, *reply.chunks]
                try:
                    for n, delta in enumerate(events):
                        if reply.cut_after is not None and n >= reply.cut_after:
                            self._drop()
                            return
                        if reply.malformed_at is not None and n == reply.malformed_at:
                            self._event('{"choices": [{"delta": {"content": "bro')
                            continue
                        choice = {"index": 0, "delta": delta, "finish_reason": None}
                        self._event(json.dumps({**base, "choices": [choice]}))
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                    final = {"index": 0, "delta": {}, "finish_reason": reply.finish_reason}
                    self._event(json.dumps({**base, "choices": [final]}))
                    if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
                        self._event(json.dumps({**base, "choices": [], "usage": reply.usage}))
                    for raw in reply.extra_events:
                        self._event(raw)
                    self._event("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    server = ScriptedServer(port=args.port).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
