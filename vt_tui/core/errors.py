"""Errors as a user reads them: the base every core and voice error shares, and endpoint failures typed and said
in words. Nothing here imports the openai SDK at module level."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    CONNECTION = "connection"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    BAD_REQUEST = "bad_request"
    TIMEOUT = "timeout"
    STREAM_CUT = "stream_cut"
    STALLED = "stalled"  # the stream started, then no byte came for stream_idle_timeout seconds
    MODEL_NOT_FOUND = "model_not_found"  # 404 for a model the server's listing no longer has
    MALFORMED = "malformed"
    CONTEXT_OVERFLOW = "context_overflow"  # the prompt does not fit the model's context window (not sent, or refused)
    CANCELLED = "cancelled"
    EMBEDDED = "embedded"
    OTHER = "other"


class VtError(Exception):
    """The base of the errors vt-tui shows a person: one line for the status bar (``message``) and what to do
    about it (``hint``). Printed, it is both: "Cannot connect to … — start your server"."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


@dataclass(eq=False)  # not frozen: contextlib assigns __traceback__ on exceptions
class EndpointError(VtError):
    """A request to the endpoint failed; ``kind`` says how, ``status`` is the HTTP status, if any."""

    kind: ErrorKind
    message: str
    hint: str = ""
    status: int | None = None
    offered: tuple[str, ...] = ()  # MODEL_NOT_FOUND: the models the server lists now (for a model picker)
    detail: str = ""  # an HTTP error's body, the server's own words (also in ``message``)
    overflow: Overflow | None = None  # CONTEXT_OVERFLOW: the sizes, as far as they are known

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind.value, "message": self.message, "hint": self.hint, "status": self.status}
        out |= {"overflow": asdict(self.overflow)} if self.overflow else {}
        return out | ({"offered": list(self.offered)} if self.offered else {})

    def without(self, secret: str) -> EndpointError:
        """This error with ``secret`` (the API key) blanked out of its words: a server may echo the request's
        headers in an error body, and these words are shown, logged and stored."""
        if not secret or (secret not in self.message and secret not in self.hint):
            return self
        return replace(
            self,
            message=self.message.replace(secret, "***"),
            hint=self.hint.replace(secret, "***"),
            detail=self.detail.replace(secret, "***"),
        )


@dataclass(frozen=True)
class Overflow:
    """A prompt too long for the context window: ``size`` tokens (the prompt) for a ``limit``-token window, with
    room for a reply of ``reply`` tokens. ``margin`` is how far ``size`` may be off (0: counted, not estimated).
    None where the server did not say."""

    size: int | None
    limit: int | None
    reply: int = 0
    margin: int = 0

    @property
    def over_by(self) -> int | None:
        """Tokens to take out before it fits (0 or less: the prompt fits, only the reply did not)."""
        return None if self.size is None or self.limit is None else self.size + self.reply - self.limit


OVERFLOW_HINT = "drop or compact the earlier turns, or shorten the message (retrying the same cannot fit)"
ALONE_HINT = "shorten the message, or start the server with a larger context window (retrying cannot fit)"
# How engines say a prompt is over the window, read the same way whichever said it. The limit: vLLM, OpenAI and
# llama-cpp-python's 400 ("maximum context length is N"), SGLang ("the model's context length (N tokens)"),
# llama-cpp-python's own ValueError, seen in its log when it cut a stream ("exceed context window of N"). The
# prompt's size: vLLM ("N in the messages", "has N input tokens"), OpenAI ("resulted in N tokens"), SGLang ("The
# input (N tokens)"), llama-cpp-python ("Requested tokens (N)"). llama-server says it in words and JSON fields
# (``exceed_context_size_error`` with ``n_prompt_tokens`` and ``n_ctx``).
_LIMIT_WORDS = (
    re.compile(r"maximum context length is (\d+)", re.I),
    re.compile(r"model's context length \((\d+) tokens\)", re.I),
    re.compile(r"exceed context window of (\d+)", re.I),
)
_SIZE_WORDS = (  # the prompt alone first: "requested N tokens" counts the reply asked for too
    re.compile(r"(\d+) in the messages", re.I),
    re.compile(r"has (\d+) input tokens", re.I),
    re.compile(r"resulted in (\d+) tokens", re.I),
    re.compile(r"input \((\d+) tokens\)", re.I),
    re.compile(r"Requested tokens \((\d+)\)", re.I),
    re.compile(r"requested (\d+) tokens", re.I),
)
_OVERFLOW_WORDS = re.compile(r"exceeds? the available context size|context[_ ]length[_ ]exceeded", re.I)


def _number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    """The number the first pattern that matches captures."""
    return next((int(m.group(1)) for p in patterns if (m := p.search(text))), None)


def overflow_in(words: str, body: Any = None) -> Overflow | None:
    """The server's words (and its JSON error object, if any) read as a context overflow; None if they are not
    one. The same reading for every engine: what the user is told does not depend on which server said it."""
    fields = body.get("error", body) if isinstance(body, dict) else None
    fields = fields if isinstance(fields, dict) else {}
    limit, size = _number(_LIMIT_WORDS, words), _number(_SIZE_WORDS, words)
    said = limit is not None or bool(_OVERFLOW_WORDS.search(words)) or "exceed_context" in str(fields.get("type"))
    if not said:
        return None
    if isinstance(fields.get("n_ctx"), int):  # llama-server
        limit = fields["n_ctx"]
    if isinstance(fields.get("n_prompt_tokens"), int):
        size = fields["n_prompt_tokens"]
    return Overflow(size=size, limit=limit)


def context_overflow(overflow: Overflow, hint: str = OVERFLOW_HINT, status: int | None = None) -> EndpointError:
    """The one line for a prompt over the window, whoever found it (vt-tui before sending, or the server): the
    limit, the size, by how much, and what to do — never "retry", which cannot help."""
    size, limit, over = overflow.size, overflow.limit, overflow.over_by
    about = "about " if overflow.margin else ""
    if over is not None and over <= 0:  # the prompt fits; the reply asked for did not (the window was not known)
        return EndpointError(
            ErrorKind.CONTEXT_OVERFLOW,
            f"The reply did not fit the model's {limit:,}-token context window after a {size:,}-token prompt",
            "the reply is now capped to what is left: send it again",
            status,
            overflow=overflow,
        )
    if over is not None:
        said = f"{about}{size:,} tokens for a {limit:,}-token window ({about}{over:,} over"
        said += f", with room for a {overflow.reply:,}-token reply)" if overflow.reply else ")"
    elif limit is not None:
        said = f"more than its {limit:,} tokens"
    elif size is not None:
        said = f"{about}{size:,} tokens"
    else:
        said = ""
    message = "Too long for the model's context window" + (f": {said}" if said else "")
    return EndpointError(ErrorKind.CONTEXT_OVERFLOW, message, hint, status, overflow=overflow)


def cancelled() -> EndpointError:
    return EndpointError(ErrorKind.CANCELLED, "Cancelled", "the partial reply is kept")


def stalled(base_url: str, idle_s: float) -> EndpointError:
    return EndpointError(
        ErrorKind.STALLED,
        f"{base_url} stopped sending mid-reply (nothing for {idle_s:g} s)",
        "the partial reply is kept; retry, or raise --stream-idle-timeout for a model that pauses longer",
    )


def model_gone(base_url: str, model: str, offered: list[str], status: int) -> EndpointError:
    """A 404 for ``model`` when the server's listing (fetched again) no longer has it: typically a server
    restarted with another model. ``offered`` goes with the error, for a model picker."""
    shown = ", ".join(offered[:5]) + (f" (and {len(offered) - 5} more)" if len(offered) > 5 else "")
    return EndpointError(
        ErrorKind.MODEL_NOT_FOUND,
        f"{base_url} does not serve {model!r} (any more); it offers: {shown or 'no model'}",
        "pick another model (F2 in the app, --model with ask)",
        status,
        tuple(offered),
    )


def validation_errors(items: list[dict[str, Any]]) -> str:
    """FastAPI/pydantic 422 ``detail`` lists, said in words: ``messages.0.content: Field required; …``."""
    said = []
    for item in items[:3]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        message = str(item.get("msg") or item.get("type") or "invalid")
        said.append(f"{where}: {message}" if where else message)
    more = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
    return "; ".join(said)[:300] + more


def _server_detail(body: Any, text: str) -> str:
    """The server's own words: OpenAI ``{"error": {"message"}}``, FastAPI ``{"detail"}``, or plain text."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if err.get(key):
                    detail = err[key]
                    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
                        return validation_errors(detail)
                    return detail if isinstance(detail, str) else json.dumps(detail)[:300]
        elif isinstance(err, str):
            return err
    return " ".join(text.split())[:300]


def from_status(status: int, body: Any, text: str, base_url: str, model: str | None) -> EndpointError:
    detail = _server_detail(body, text)
    overflow = overflow_in(detail, body) if status not in (401, 403, 404, 429) else None
    error = context_overflow(overflow, status=status) if overflow else _from_status(status, detail, base_url, model)
    return replace(error, detail=detail)


def _from_status(status: int, detail: str, base_url: str, model: str | None) -> EndpointError:
    said = f": {detail}" if detail else ""
    if status in (401, 403):
        return EndpointError(
            ErrorKind.AUTH,
            f"{base_url} refused the API key ({status}{said})",
            "set --api-key or VT_TUI_API_KEY / OPENAI_API_KEY to the key the server expects",
            status,
        )
    if status == 404:
        return EndpointError(
            ErrorKind.NOT_FOUND,
            f"Not found at {base_url} ({status}{said})",
            f"check the model id ({model!r}) with /v1/models, and that the URL ends in /v1",
            status,
        )
    if status == 429:
        return EndpointError(ErrorKind.RATE_LIMIT, f"Rate limited by {base_url}{said}", "wait and retry", status)
    if status >= 500:
        return EndpointError(
            ErrorKind.SERVER, f"Server error {status} from {base_url}{said}", "see the server's log", status
        )
    return EndpointError(ErrorKind.BAD_REQUEST, f"Request rejected ({status}){said}", "", status)


def no_reply(base_url: str) -> EndpointError:
    return EndpointError(
        ErrorKind.TIMEOUT,
        f"No reply from {base_url} in time",
        "the server may be busy or loading a model; raise --request-timeout",
    )


def before_reply(exc: BaseException, base_url: str) -> EndpointError:
    """A transport failure before any byte of the reply: nothing listening, a timeout, or a broken connection."""
    if "Timeout" in type(exc).__name__:
        return no_reply(base_url)
    text = f"{type(exc).__name__}: {exc}"
    if "refused" in text.lower() or type(exc).__name__ == "ConnectError":
        return EndpointError(
            ErrorKind.CONNECTION,
            f"Cannot connect to {base_url} (connection refused)",
            "start your server (see docs/endpoints.md), or drop --base-url to use the embedded model",
        )
    return EndpointError(ErrorKind.STREAM_CUT, f"Connection to {base_url} broke: {text}", "retry")


def classify(exc: BaseException, base_url: str, model: str | None) -> EndpointError:
    """Map any exception raised while talking to an endpoint to an :class:`EndpointError`."""
    if isinstance(exc, EndpointError):
        return exc
    import openai

    if isinstance(exc, openai.APIStatusError):
        try:
            body = exc.response.json()
        except Exception:
            body = exc.body
        return from_status(exc.status_code, body, exc.response.text or exc.message, base_url, model)
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return no_reply(base_url)
    if isinstance(exc, openai.APIConnectionError):
        return before_reply(exc.__cause__ or exc, base_url)
    if isinstance(exc, json.JSONDecodeError):
        return EndpointError(
            ErrorKind.MALFORMED, f"{base_url} sent a malformed stream (bad JSON in an SSE event)", "retry"
        )
    if isinstance(exc, openai.APIError):
        return EndpointError(ErrorKind.SERVER, f"{base_url}: {exc.message}", "retry")
    if type(exc).__module__.startswith("httpx"):  # raised while reading an already-open stream
        if "Timeout" in type(exc).__name__:
            return EndpointError(
                ErrorKind.TIMEOUT, f"{base_url} stopped sending mid-reply", "raise --request-timeout or retry"
            )
        return EndpointError(
            ErrorKind.STREAM_CUT,
            f"The stream from {base_url} was cut mid-reply (the server closed the connection: restarted or stopped?)",
            "the partial reply is kept; retry",
        )
    return EndpointError(ErrorKind.OTHER, f"{type(exc).__name__}: {exc}", "")
