"""Errors as a user reads them: the base every core and voice error shares, and endpoint failures typed and said
in words. Nothing here imports the openai SDK at module level."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
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

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind.value, "message": self.message, "hint": self.hint, "status": self.status}
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
    return replace(_from_status(status, detail, base_url, model), detail=detail)


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
