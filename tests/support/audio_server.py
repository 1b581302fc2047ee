"""A real OpenAI-compatible audio server on 127.0.0.1: Whisper behind ``/v1/audio/transcriptions``, espeak-ng
behind ``/v1/audio/speech``.

Transcriptions take ``multipart/form-data`` (``file``, ``model``, ``language``, ``response_format``) and run the
shipped faster-whisper base model; speech takes JSON (``model``, ``input``, ``voice``, ``response_format``,
``speed``) and answers ``audio/wav``. ``/openapi.json`` lists the routes the way FastAPI engines do, so route
detection can be tested; a disabled route answers FastAPI's 404. ``/v1/chat/completions`` echoes the last user
message (streamed or not). Every request is recorded as ``(path, body)``: parsed JSON, or the form fields with
the file as ``(filename, bytes, content_type)``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Iterator, Sequence
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vt_tui.voice.stt import LocalWhisper
from vt_tui.voice.wav import from_wav, to_wav

MODELS = ("whisper-base", "espeak", "chat-model")
TRANSCRIPTIONS, SPEECH = "/v1/audio/transcriptions", "/v1/audio/speech"
CHAT, MODELS_ROUTE = "/v1/chat/completions", "/v1/models"
OPENAI_VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
NOT_FOUND = {"detail": "Not Found"}  # FastAPI's body for an unknown route


def error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


def parse_form(content_type: str, body: bytes) -> dict[str, Any]:
    """``multipart/form-data`` fields: text as ``str``, files as ``(filename, bytes, content_type)``."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("expected multipart/form-data")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        fields[str(name)] = (filename, payload, part.get_content_type()) if filename else payload.decode()
    return fields


def espeak(text: str, voice: str, speed: float) -> bytes:
    """WAV bytes of ``text`` (OpenAI voice names get espeak's en-us); ``ValueError`` when espeak-ng fails."""
    voice = "en-us" if voice in OPENAI_VOICES or not voice else voice
    run = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(round(175 * speed))],
        input=text.encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    if run.returncode != 0 or not run.stdout:
        raise ValueError(f"espeak-ng could not speak with voice {voice!r} (exit {run.returncode})")
    return to_wav(from_wav(run.stdout))  # espeak's --stdout header claims ~2 GB of samples


class AudioServer:
    """The server; use :func:`audio_server`. ``whisper`` is shared so a test module loads the model once."""

    def __init__(
        self, *, stt: bool, tts: bool, whisper: LocalWhisper | None = None, models: Sequence[str] = MODELS
    ) -> None:
        self.stt, self.tts = stt, tts
        self.whisper = whisper or LocalWhisper()
        self.models = list(models)
        self.requests: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)  # quick stop

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def routes(self) -> list[str]:
        audio = [route for route, on in ((TRANSCRIPTIONS, self.stt), (SPEECH, self.tts)) if on]
        return [MODELS_ROUTE, CHAT, *audio]

    def record(self, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append((path, body))

    def openapi(self) -> dict[str, Any]:
        method = {MODELS_ROUTE: "get"}
        paths = {route: {method.get(route, "post"): {"summary": route}} for route in self.routes}
        return {"openapi": "3.1.0", "info": {"title": "vt-tui test audio server", "version": "1.0"}, "paths": paths}

    def transcribe(self, fields: dict[str, Any]) -> tuple[int, Any]:
        """(status, JSON payload or text) for a transcription form."""
        upload = fields.get("file")
        if not isinstance(upload, tuple):
            return 400, error("'file' is required")
        if fields.get("model") not in self.models:
            return 404, error(f"The model {fields.get('model')!r} does not exist.", "not_found_error")
        response_format = fields.get("response_format", "json")
        if response_format not in ("json", "text", "verbose_json"):
            return 400, error(f"response_format {response_format!r} is not supported: use json, text or verbose_json")
        try:
            pcm = from_wav(upload[1])
        except ValueError as exc:
            return 400, error(f"could not read the audio: {exc}")
        text = self.whisper.transcribe_blocking(pcm, fields.get("language") or None)
        if response_format == "text":
            return 200, text
        if response_format == "verbose_json":
            language = fields.get("language") or "en"
            return 200, {"task": "transcribe", "language": language, "duration": pcm.seconds, "text": text}
        return 200, {"text": text}

    def speak(self, body: Any) -> tuple[int, Any]:
        """(status, WAV bytes or JSON error) for a speech request."""
        if not isinstance(body, dict):
            return 400, error("expected a JSON object")
        if body.get("model") not in self.models:
            return 404, error(f"The model {body.get('model')!r} does not exist.", "not_found_error")
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            return 400, error("'input' is empty: nothing to say")
        if body.get("response_format", "wav") != "wav":
            return 400, error(f"response_format {body.get('response_format')!r} is not supported: use wav")
        try:
            return 200, espeak(text, str(body.get("voice") or ""), float(body.get("speed") or 1.0))
        except ValueError as exc:
            return 400, error(str(exc))

    def chat(self, body: Any) -> dict[str, Any]:
        messages = body.get("messages", []) if isinstance(body, dict) else []
        said = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        return {"role": "assistant", "content": f"You said: {said}"}

    def __enter__(self) -> AudioServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler(server: AudioServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, content_type: str | None = None) -> None:
            if isinstance(payload, bytes):
                data, ctype = payload, content_type or "application/octet-stream"
            elif isinstance(payload, str):
                data, ctype = payload.encode(), "text/plain; charset=utf-8"
            else:
                data, ctype = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def do_GET(self) -> None:
            server.record(self.path, None)
            if self.path == "/openapi.json":
                self._send(200, server.openapi())
            elif self.path.rstrip("/") == MODELS_ROUTE:
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "audio-test"} for m in server.models]
                self._send(200, {"object": "list", "data": data})
            else:
                self._send(404, NOT_FOUND)

        def do_POST(self) -> None:
            raw = self._body()
            ctype = self.headers.get("Content-Type", "")
            if self.path not in server.routes:
                server.record(self.path, raw)
                self._send(404, NOT_FOUND)
            elif self.path == TRANSCRIPTIONS:
                self._transcription(ctype, raw)
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    server.record(self.path, raw)
                    self._send(400, error("expected a JSON body"))
                    return
                server.record(self.path, body)
                if self.path == SPEECH:
                    status, payload = server.speak(body)
                    self._send(status, payload, "audio/wav")
                else:
                    self._chat(body)

        def _transcription(self, ctype: str, raw: bytes) -> None:
            try:
                fields = parse_form(ctype, raw)
            except ValueError as exc:
                server.record(self.path, raw)
                self._send(400, error(str(exc)))
                return
            server.record(self.path, fields)
            self._send(*server.transcribe(fields))

        def _chat(self, body: Any) -> None:
            message = server.chat(body)
            if not body.get("stream"):
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._send(200, {"id": "chatcmpl-audio", "object": "chat.completion", "choices": [choice]})
                return
            events = [{"role": "assistant", "content": message["content"]}, {}]
            lines = []
            for n, delta in enumerate(events):
                choice = {"index": 0, "delta": delta, "finish_reason": "stop" if n else None}
                lines.append(f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n")
            self._send(200, ("".join(lines) + "data: [DONE]\n\n").encode(), "text/event-stream")

    return Handler


@contextlib.contextmanager
def audio_server(
    *, stt: bool = True, tts: bool = True, whisper: LocalWhisper | None = None, models: Sequence[str] = MODELS
) -> Iterator[AudioServer]:
    """A running :class:`AudioServer` (``base_url``, ``requests``) with the chosen audio routes."""
    with AudioServer(stt=stt, tts=tts, whisper=whisper, models=models) as server:
        yield server
