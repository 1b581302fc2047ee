"""The commands without a UI: ``vt-tui ask``, ``vt-tui search`` and ``vt-tui doctor``, and the exit codes every
command returns."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``vt-tui`` and its commands exit with (scripts test for these)."""

    OK = 0
    FAILED = 1  # the turn failed, or doctor found something a user needs broken
    USAGE = 2  # bad flags, settings or input (a --file that can't be attached): nothing was run
    CONTEXT = 3  # the question does not fit the model's context window: nothing was sent
    CANCELLED = 130  # Ctrl+C, as a shell reports SIGINT
