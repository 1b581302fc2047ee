"""Getting connected to a server that may still be starting, as typed states: one implementation for the app and
``vt-tui ask --wait``.

vLLM and LLaMA-Factory take 30–120 s to load a model; until then the port refuses connections, a proxy in front
answers 502/503, or the listing is empty. :class:`Lifecycle` asks ``/v1/models`` until the server answers with a
model, waiting 1, 2, 4, 8, then 15 s between tries, and says what it is doing::

    lifecycle = Lifecycle(endpoint)                  # wait_s=None: until connected, failed, or cancelled
    async for state in lifecycle.states():
        status_bar.show(state.describe())            # "waiting for http://… (connection refused) — retrying in 4 s"
    # the last state is Connected or Failed; Failed.error is the EndpointError to show (401, a wrong URL, …)

    lifecycle.retry_now()    # from a key (Ctrl+R): the pending wait ends and the next try starts at once
    # cancel: cancel the task that iterates states(), or stop iterating; nothing is left running

Errors worth waiting for are the ones a starting server gives (see :func:`waiting_reason`); any other ends the
wait at once. A later failure (a server restarted between turns, a turn failing with ``ErrorKind.CONNECTION``) is
met with a new ``Lifecycle`` on the same endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import EndpointError, ErrorKind

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0)  # then 15 s between tries
LOADING_STATUSES = (502, 503, 504)  # a proxy before a server that is not up yet, or an engine still loading


@dataclass(frozen=True, slots=True)
class Waiting:
    """The last try failed the way a starting server fails; the next one is in ``retry_in`` seconds."""

    url: str
    reason: str  # short: "connection refused", "503 Service Unavailable: loading", "no model listed yet"
    retry_in: float
    attempt: int  # tries made so far
    waited_s: float  # since the first try

    def describe(self, remaining: float | None = None) -> str:
        """The status line; ``remaining`` (seconds left, for a UI that counts down) instead of ``retry_in``."""
        seconds = math.ceil(self.retry_in if remaining is None else max(0.0, remaining))
        return f"waiting for {self.url} ({self.reason}) — retrying in {seconds} s"


@dataclass(frozen=True, slots=True)
class Connected:
    url: str
    models: tuple[str, ...]
    waited_s: float

    def describe(self) -> str:
        return f"connected to {self.url}"


@dataclass(frozen=True, slots=True)
class Failed:
    """Not worth waiting for (a wrong key or URL), or ``wait_s`` ran out: ``error`` says which, in one line."""

    error: EndpointError

    def describe(self) -> str:
        return str(self.error)


ConnectionState = Waiting | Connected | Failed


def waiting_reason(error: EndpointError) -> str | None:
    """Why the server is not ready yet, in a few words; None when waiting would not help."""
    if error.kind is ErrorKind.CONNECTION:
        return "connection refused"
    if error.kind is ErrorKind.TIMEOUT:
        return "no answer yet"
    if error.kind is ErrorKind.STREAM_CUT:  # reset while it starts listening
        return "connection reset"
    if error.status in LOADING_STATUSES:
        return f"{error.status}: {error.detail[:60]}" if error.detail else f"HTTP {error.status}"
    return None


class Lifecycle:
    """Connects one endpoint, retrying while the server starts. Single use: one ``states()`` run per object."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        wait_s: float | None = None,
        model: str | None = None,
        backoff: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        """``wait_s``: give up after this long (0: one try, the error as it is); None waits until cancelled.
        ``model``: a model the user named; a server that answers with an empty listing is then good enough."""
        self.endpoint = endpoint
        self.wait_s = wait_s
        self.model = model
        self.backoff = backoff
        self._wake = asyncio.Event()

    def retry_now(self) -> None:
        """End the pending wait: the next try starts at once (nothing happens when no wait is pending)."""
        self._wake.set()

    async def states(self) -> AsyncIterator[ConnectionState]:
        """Waiting states while the server starts, then one Connected or Failed, the last."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self._wake.clear()
            try:
                models = await self.endpoint.list_models()
            except EndpointError as exc:
                error, reason = exc, waiting_reason(exc)
            else:
                if models or self.model:
                    self.endpoint.forget_server()  # maybe not the server it was before the wait
                    yield Connected(self.endpoint.base_url, tuple(models), time.monotonic() - started)
                    return
                error = EndpointError(
                    ErrorKind.NOT_FOUND,
                    f"{self.endpoint.base_url} lists no models",
                    "load a model in the server, or name one with --model",
                )
                reason = "no model listed yet"
            waited = time.monotonic() - started
            delay = self.backoff[min(attempt, len(self.backoff)) - 1]
            if reason is None or self.wait_s == 0:
                yield Failed(error)
                return
            if self.wait_s is not None:
                left = self.wait_s - waited
                if left <= 0:
                    yield Failed(gave_up(self.endpoint.base_url, error, reason, waited))
                    return
                delay = min(delay, left)
            yield Waiting(self.endpoint.base_url, reason, delay, attempt, waited)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def connect(self, on_state: Callable[[ConnectionState], None] | None = None) -> Connected:
        """Run :meth:`states` to its end (each state to ``on_state``); raise the error of a Failed."""
        async for state in self.states():
            if on_state is not None:
                on_state(state)
            if isinstance(state, Connected):
                return state
            if isinstance(state, Failed):
                raise state.error
        raise AssertionError("states() ends with Connected or Failed")


def gave_up(url: str, error: EndpointError, reason: str, waited_s: float) -> EndpointError:
    return EndpointError(
        error.kind, f"Gave up waiting for {url} after {waited_s:.0f} s ({reason})", error.hint, error.status
    )
