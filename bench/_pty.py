"""An app in a real pseudo-terminal, as a user's terminal runs it: for the start-up and first-turn benches."""

from __future__ import annotations

import compileall
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path


class PtyApp:
    """``argv`` started on a new pty of ``rows`` × ``cols``; the output is read (and kept) as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.seen = b""
        self.argv = argv

    def read(self, timeout: float) -> None:
        """Read whatever arrives within ``timeout`` seconds (the app blocks if nobody reads its output)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.seen += os.read(self.master, 65536)
            except OSError:
                raise RuntimeError(f"{self.argv[0]} exited; last output: {self.seen[-300:]!r}") from None

    def wait_for(self, marker: bytes, timeout: float = 30.0) -> float:
        """Seconds from launch until ``marker`` has been written to the terminal."""
        return self.until(lambda: marker in self.seen, timeout, f"{marker!r} never appeared")

    def until(self, condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> float:
        """Seconds from launch until ``condition()``, reading the output meanwhile."""
        deadline = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.argv[0]}: {what}; last output: {self.seen[-300:]!r}")
            self.read(poll)
        return time.perf_counter() - self.started

    def idle(self, seconds: float) -> None:
        """Keep reading the output for ``seconds``."""
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self.read(left)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        os.close(self.master)

    def __enter__(self) -> PtyApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fresh_env(home: str) -> dict[str, str]:
    """A terminal environment with an empty home: no config, no conversations, no caches of vt-tui's."""
    env = {**os.environ, "TERM": "xterm-256color", "HOME": home, "COLUMNS": "80", "LINES": "24"}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = f"{home}/{name.lower()}"
    return env


def with_bytecode(package: Path) -> None:
    """Compile ``package``'s modules, as an installed package has them (pip compiles at install time).

    Without this, under ``PYTHONDONTWRITEBYTECODE`` (set on the development box) every vt-tui module is compiled
    from source at each start while Textual's come precompiled: it made vt-tui's start look ~10-20% slower.
    """
    compileall.compile_dir(package, quiet=1)
