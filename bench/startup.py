"""Launch to interactive composer: vt-tui vs a peer Textual chat client, both in a real pty at 80×24.

Each run is a new process; the clock stops when the first frame showing the composer reaches the terminal.
The peer (elia-chat, if installed in PEER_VENV) is launched the same way in the same run. Goal: ≤ 0.4 s.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from _common import ROOT, median, table

from tests.support.scripted_server import ScriptedServer

RUNS = 5
PEER_VENV = Path(os.environ.get("PEER_VENV", "/tmp/peers-elia"))


def time_to_marker(argv: list[str], marker: bytes, env: dict[str, str], timeout: float = 30.0) -> float:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
                if marker in seen:
                    return time.perf_counter() - started
        raise RuntimeError(f"{argv[0]}: {marker!r} never appeared; last output: {seen[-300:]!r}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)


def main() -> None:
    with tempfile.TemporaryDirectory() as home, ScriptedServer() as server:
        env = {**os.environ, "TERM": "xterm-256color", "HOME": home, "COLUMNS": "80", "LINES": "24"}
        for name in ("CONFIG", "DATA", "STATE", "CACHE"):
            env[f"XDG_{name}_HOME"] = f"{home}/{name.lower()}"
        vt = [str(ROOT / ".venv/bin/vt-tui"), "--base-url", server.base_url]
        subjects = [("vt-tui", vt, b"sk anything")]  # the cursor sits on the "A"
        elia = PEER_VENV / "bin/elia"
        if elia.exists():
            env["OPENAI_API_KEY"] = "sk-bench"
            subjects.append(("elia-chat 1.10 (peer)", [str(elia)], b"Send message"))
        else:
            print(f"(peer not installed: python3.11 -m venv {PEER_VENV} && {PEER_VENV}/bin/pip install elia-chat)")
        python = [sys.executable, "-c", "import textual.app"]
        baseline = median([_run(python) for _ in range(RUNS)])
        rows = [("baseline: python -c 'import textual.app'", baseline, 1.0)]
        for label, argv, marker in subjects:
            time_to_marker(argv, marker, env)  # warm the page cache
            times = [time_to_marker(argv, marker, env) for _ in range(RUNS)]
            rows.append((label, median(times), median(times) / baseline))
    title = f"Launch → composer on screen, 80×24 pty (median of {RUNS} new processes)"
    table(title, ("app", "seconds", "× baseline"), rows)


def _run(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    if not shutil.which("true"):
        sys.exit("needs a POSIX system")
    main()
