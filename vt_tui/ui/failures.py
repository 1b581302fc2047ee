"""No exception ends the app: every worker runs with ``exit_on_error=False`` and its failure reaches one handler.

Textual tells only the node that ran a worker when its state changes (``Worker.StateChanged`` does not bubble);
nodes that run workers mix in :class:`ForwardsWorkerFailures`, which passes a failure up as
:class:`WorkerFailed`, and the app shows it in one line and writes the traceback to the log (``VtApp``).
"""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.worker import Worker, WorkerState


class WorkerFailed(Message):
    """A worker raised; bubbles up to the app."""

    def __init__(self, worker: Worker[Any]) -> None:
        super().__init__()
        self.worker = worker


class ForwardsWorkerFailures:
    """For widgets and screens that run workers. Textual calls every class's handler along the MRO, so a node
    with its own ``on_worker_state_changed`` still forwards."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.post_message(WorkerFailed(event.worker))  # type: ignore[attr-defined]


def one_line(error: BaseException | None, limit: int = 200) -> str:
    """``RuntimeError: boom`` — the first line of the error, at most ``limit`` characters."""
    text = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
    first = text.splitlines()[0] if text.strip() else text
    return first if len(first) <= limit else first[: limit - 1] + "…"
