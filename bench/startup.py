"""Launch to interactive composer: vt-tui vs a peer Textual chat client, both in a real pty at 80×24.

Each run is a new process; the clock stops when the first frame showing the composer reaches the terminal.
vt-tui is timed twice: as it comes, and with two stdio MCP servers configured (tests/support/mcp_server.py),
which start after the first frame and must not delay it.
The peer (elia-chat, if installed in PEER_VENV) is launched the same way in the same run. Goal: ≤ 1.3× the
baseline, ``python -c 'import textual.app'`` timed in the same run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, median, table
from _pty import PtyApp, fresh_env, with_bytecode

from tests.support.mcp_server import command
from tests.support.scripted_server import ScriptedServer

RUNS = 9
PEER_VENV = Path(os.environ.get("PEER_VENV", "/tmp/peers-elia"))


def time_to_marker(argv: list[str], marker: bytes, env: dict[str, str]) -> float:
    with PtyApp(argv, env) as app:
        return app.wait_for(marker)


def main() -> None:
    with_bytecode(ROOT / "vt_tui")
    with (
        tempfile.TemporaryDirectory() as home,
        ScriptedServer() as server,
        contextlib.redirect_stderr(io.StringIO()),  # connections reset by the killed apps: noise here
    ):
        env = fresh_env(home)
        vt = [str(ROOT / ".venv/bin/vt-tui"), "--base-url", server.base_url]
        mcp_config = Path(home) / "mcp.json"
        servers = {name: dict(zip(("command", "args"), _split(command(name)), strict=True)) for name in ("a", "b")}
        mcp_config.write_text(json.dumps({"mcpServers": servers}))
        subjects = [  # the cursor sits on the "A"
            ("vt-tui", vt, b"sk anything"),
            ("vt-tui, two MCP servers", [*vt, "--mcp-config", str(mcp_config)], b"sk anything"),
        ]
        elia = PEER_VENV / "bin/elia"
        if elia.exists():
            env["OPENAI_API_KEY"] = "sk-bench"
            subjects.append(("elia-chat 1.10 (peer)", [str(elia)], b"Send message"))
        else:
            print(f"(peer not installed: python3.11 -m venv {PEER_VENV} && {PEER_VENV}/bin/pip install elia-chat)")
        python = [sys.executable, "-c", "import textual.app"]
        for _, argv, marker in subjects:
            time_to_marker(argv, marker, env)  # warm the page cache
        # Baseline and apps alternate, run by run: the load other work puts on this box changes by the minute.
        times: dict[str, list[float]] = {label: [] for label, _, _ in subjects}
        baselines = []
        for _ in range(RUNS):
            baselines.append(_run(python))
            for label, argv, marker in subjects:
                times[label].append(time_to_marker(argv, marker, env))
        baseline = median(baselines)
        rows = [("baseline: python -c 'import textual.app'", baseline, 1.0)]
        for label, _, _ in subjects:
            ratios = [t / b for t, b in zip(times[label], baselines, strict=True)]
            rows.append((label, median(times[label]), median(ratios)))
            rows.append((f"{label}: slowest of {RUNS} (its run's ratio)", max(times[label]), max(ratios)))
    title = f"Launch → composer on screen, 80×24 pty (median of {RUNS} new processes, each after a baseline run)"
    table(title, ("app", "seconds", "× its run's baseline (median)"), rows)


def _split(argv: list[str]) -> tuple[str, list[str]]:
    return argv[0], argv[1:]


def _run(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
