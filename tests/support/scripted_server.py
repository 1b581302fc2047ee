"""A scripted OpenAI-compatible server on 127.0.0.1: real HTTP/1.1, real SSE, deterministic replies.

Tests queue :class:`Reply` objects; each chat request takes the next one (or, with none queued, an echo of the
last user message). Every request is recorded, and so is every TCP connection, so tests can assert on the
exact body vt-tui sent and on keep-alive reuse. Also usable as a stand-alone server for benches and demos:
``python -m tests.support.scripted_server --port 8011``.

To play a particular engine (tests/functional/test_profiles.py does), set its ``/v1/models`` fields
(``owned_by``, ``model_fields``), headers (``server_header``, ``None`` for none; ``extra_headers``), extra GET
and POST routes (``get_routes``; ``post_routes``, answered from the request body: a tokenizer, Ollama's
``/api/show``), its 401/404 bodies, whether it honours ``stream_options.include_usage``, a ``validate`` hook that
answers a request the way that engine rejects it (its role rules, its errors), and a ``usage_for`` hook that
counts a request's tokens as that engine would (tests/support/engine_windows.py plays each engine's window).

LLaMA-Factory's own refusals are built in (llamafactory/api/chat.py, 0.9.5), as it really answers them:
``strict_alternation`` (one leading system message, then user|tool / assistant|function turns, an odd count) and
``refuse_streamed_tools`` ("Cannot stream function calls."). A non-streamed request gets 400 ``{"detail": …}``; a
streamed one gets 200 and SSE headers, then the connection closes with no event (its checks run inside the
stream's generator). Every refusal is kept in ``refused``: a test that turns them on asserts it stays empty.

:meth:`ScriptedServer.kill` ends it the way a dead process does: the listener and every open connection closed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
    pause_at: int | None = None  # before this event (0 is the role delta), pause for pause_s: a stall mid-stream
    pause_s: float = 0.0
    rate: float | None = None  # events per second on a fixed schedule (for benches: no drift from sleep)
    cut_after: int | None = None  # close the socket after this many events, no [DONE]
    malformed_at: int | None = None  # send broken JSON as this event
    close: bool = False  # drop the connection after the reply without saying so (LLaMA-Factory's 500s)
    drop_next: bool = False  # keep the connection, then drop the next request on it unanswered (stale keep-alive)
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


def tool_call_reply(
    calls: list[tuple[str, str, str]],
    *,
    split: int = 1,
    repeat_id: bool = False,
    content: str | None = None,
    **kw: Any,
) -> Reply:
    """Stream tool calls ``(id, name, json_args)``; arguments split into ``split`` pieces per call.

    ``repeat_id``: every delta repeats id, type and name (llama.cpp does). ``content``: prose streamed before the
    calls. Other keywords go to :class:`Reply` (``chunk_delay``, ``usage``, …).
    """
    chunks: list[dict[str, Any]] = [{"content": content}] if content else []
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
        "content": content,
        "tool_calls": [{"id": c, "type": "function", "function": {"name": n, "arguments": a}} for c, n, a in calls],
    }
    return Reply(chunks=chunks, finish_reason="tool_calls", message=message, **kw)


class ScriptedServer:
    def __init__(self, models: list[str] | None = None, *, owned_by: str = "scripted", port: int = 0) -> None:
        self.models = models or ["scripted-model"]
        self.owned_by = owned_by
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.last_byte_at = 0.0  # wall clock of the last byte of the last streamed reply
        self.server_header: str | None = "scripted"  # None: no Server header at all (Go servers send none)
        self.extra_headers: dict[str, str] = {}  # on every response
        self.model_fields: dict[str, Any] = {}  # merged into each /v1/models entry
        self.get_routes: dict[str, tuple[int, Any]] = {}  # path -> (status, JSON payload or text)
        self.post_routes: dict[str, Callable[[Any], tuple[int, Any]]] = {}  # path -> body -> (status, payload)
        self.usage_for: Callable[[dict[str, Any], Reply], dict[str, Any]] | None = None  # (request, reply) -> usage
        self.auth_error: Any = {"error": {"message": "Invalid API key.", "type": "invalid_request_error"}}
        self.not_found: Any = None  # 404 body for unknown routes (default: OpenAI-style error)
        self.usage_in_stream = True  # False: ignore stream_options.include_usage, like servers that send no usage
        self.validate: Callable[[dict[str, Any]], Reply | None] | None = None  # an error Reply rejects the request
        self.dropped = 0  # requests dropped unanswered (Reply.drop_next)
        self.api_key: str | None = None
        self.strict_alternation = False  # LLaMA-Factory's role rules (see the module docstring)
        self.refuse_streamed_tools = False  # LLaMA-Factory: tools offered in a streamed request are refused
        self.refused: list[str] = []  # the refusals sent, in order
        self.default_chunk_delay = 0.0  # for the echo reply (no reply queued)
        self.strict_models = False  # 404 for a model not listed, as vLLM does (most servers serve any name)
        self._open: set[socket.socket] = set()  # connections not yet closed (kill closes them)
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

    def kill(self) -> None:
        """Stop as a killed process does: no new connections, and every open one closed (mid-stream too)."""
        self.stop()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

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
        return text_reply(f"You said: {text}", chunk_delay=self.default_chunk_delay)

    def _refusal(self, body: dict[str, Any]) -> str | None:
        """LLaMA-Factory's checks, in its order: message count, alternation, roles, then tools + stream."""
        if self.strict_alternation:
            messages = list(body.get("messages") or [])
            if not messages:
                return "Invalid length"
            if messages[0].get("role") == "system":
                messages.pop(0)
            if len(messages) % 2 == 0:
                return "Only supports u/a/u/a/u..."
            for i, message in enumerate(messages):
                allowed = ("user", "tool") if i % 2 == 0 else ("assistant", "function")
                if message.get("role") not in allowed:
                    return "Invalid role"
        if self.refuse_streamed_tools and body.get("stream") and body.get("tools"):
            return "Cannot stream function calls."
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # As real servers (uvicorn) do: without it Nagle + delayed ACK add ~40 ms to small SSE writes.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with server._lock:
                    server.connections += 1
                    server._open.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._open.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def log_message(self, *args: Any) -> None:
                pass

            def version_string(self) -> str:
                return server.server_header or ""

            def send_response(self, code: int, message: str | None = None) -> None:
                self.send_response_only(code, message)
                if server.server_header is not None:
                    self.send_header("Server", self.version_string())
                self.send_header("Date", self.date_time_string())
                for name, value in server.extra_headers.items():
                    self.send_header(name, value)

            def _stale(self) -> bool:
                """The previous reply on this connection asked for this request to be dropped unanswered."""
                if not getattr(self, "drop_pending", False):
                    return False
                with server._lock:
                    server.dropped += 1
                self._drop()
                return True

            def _record(self, body: Any) -> None:
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})

            def _authorized(self) -> bool:
                if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return True
                self._json(401, server.auth_error)
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
                if self._stale():
                    return
                self._record(None)
                if self.path in server.get_routes:  # engine routes answer before auth, as most engines' do
                    status, payload = server.get_routes[self.path]
                    self._json(status, payload if not isinstance(payload, str) else payload.encode())
                    return
                if not self._authorized():
                    return
                if self.path.rstrip("/").endswith("/models"):
                    data = [
                        {"id": m, "object": "model", "owned_by": server.owned_by, **server.model_fields}
                        for m in server.models
                    ]
                    self._json(200, {"object": "list", "data": data})
                else:
                    self._json(404, server.not_found or {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if self._stale():
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                self._record(body)
                if not self._authorized():
                    return
                if self.path in server.post_routes:
                    status, payload = server.post_routes[self.path](body)
                    self._json(status, payload)
                    return
                if not self.path.endswith("/chat/completions") or not isinstance(body, dict):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if server.strict_models and body.get("model") not in server.models:
                    message = f"The model `{body.get('model')}` does not exist."
                    self._json(404, {"error": {"message": message, "type": "NotFoundError", "code": 404}})
                    return
                refusal = server._refusal(body)
                if refusal is not None:
                    self._refuse(refusal, bool(body.get("stream")))
                    return
                rejected = server.validate(body) if server.validate else None
                reply = rejected or server._next_reply(body)
                if server.usage_for is not None and not rejected:
                    reply = replace(reply, usage=server.usage_for(body, reply))
                self.drop_pending = reply.drop_next
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

            def _refuse(self, detail: str, streamed: bool) -> None:
                with server._lock:
                    server.refused.append(detail)
                if not streamed:
                    self._json(400, {"detail": detail})
                    return
                self.send_response(200)  # LLaMA-Factory checks inside the stream: headers first, then nothing
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
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
                started = time.perf_counter()
                try:
                    for n, delta in enumerate(events):
                        if reply.rate and (ahead := started + n / reply.rate - time.perf_counter()) > 0.001:
                            time.sleep(ahead)
                        if n == reply.pause_at:
                            time.sleep(reply.pause_s)
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
                    wants_usage = (body.get("stream_options") or {}).get("include_usage")
                    if reply.usage and wants_usage and server.usage_in_stream:
                        self._event(json.dumps({**base, "choices": [], "usage": reply.usage}))
                    for raw in reply.extra_events:
                        self._event(raw)
                    self._event("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    server.last_byte_at = time.time()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--models", default="scripted-model", help="comma-separated ids for /v1/models")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between the echo reply's words")
    parser.add_argument("--strict-models", action="store_true", help="404 for a model not listed, as vLLM does")
    args = parser.parse_args()
    server = ScriptedServer(args.models.split(","), port=args.port)
    server.default_chunk_delay = args.chunk_delay
    server.strict_models = args.strict_models
    server.start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()


@contextlib.contextmanager
def scripted_process(
    port: int, *, models: str = "scripted-model", chunk_delay: float = 0.0, strict_models: bool = False
):
    """The scripted server in its own process on ``port`` (echo replies): a server that can be killed (-9) and
    started again, as a real engine restarts. Yields the ``Popen``; its base URL is printed on its stdout."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.scripted_server", "--port", str(port), "--models", models,
         "--chunk-delay", str(chunk_delay), *(["--strict-models"] if strict_models else [])],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("http://127.0.0.1:")
        yield proc
    finally:
        proc.kill()
        proc.wait()
