"""`vt-tui --version` and core import time, against `python -c pass` in the same run.

Goal: ≤ 150 ms for `vt-tui --version`. Each figure is the median of 10 new processes.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _common import ROOT, median, table

RUNS = 10


def wall(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> None:
    py = sys.executable
    cases = [
        ("baseline: python -c pass", [py, "-c", "pass"]),
        ("vt-tui --version", [str(ROOT / ".venv/bin/vt-tui"), "--version"]),
        ("import vt_tui.core.session (no openai yet)", [py, "-c", "import vt_tui.core.session"]),
        ("import vt_tui.ui.app (Textual, first frame)", [py, "-c", "import vt_tui.ui.app"]),
        ("import openai (deferred to after the first frame)", [py, "-c", "import openai"]),
    ]
    base = wall(cases[0][1])
    rows = [(label, wall(argv) * 1000 if label != cases[0][0] else base * 1000) for label, argv in cases]
    table(
        f"Start-up cost (ms, median of {RUNS} processes)",
        ("what", "ms", "× baseline"),
        [(label, ms, ms / (base * 1000)) for label, ms in rows],
    )


if __name__ == "__main__":
    main()
