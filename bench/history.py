"""Open a 2,000-message conversation in the app: time to first frame with history, and peak RSS.

Baseline, same process: reading the same turns from SQLite alone. Goals: ≤ 1 s, ≤ 250 MB peak RSS.
"""

from __future__ import annotations

import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

from _common import median, table

from tests.support.scripted_server import ScriptedServer
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage

TURNS = 1000  # 2,000 messages
REPLY = (
    "Here is how that works:\n\n1. **First** the request goes out.\n2. Then `tokens` stream back.\n\n"
    "```python\nfor chunk in stream:\n    print(chunk)\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
)


def build(path: Path) -> int:
    store = Store(path)
    cid = store.create_conversation(title="long one", model="scripted-model", endpoint="bench")
    for i in range(TURNS):
        tid = store.add_turn(cid, f"Question number {i}: how does streaming work?", "scripted-model", {})
        store.finish_turn(tid, REPLY, "ok", {"ttft_s": 0.1, "duration_s": 1.0, "tokens": 60, "tokens_source": "server"})
    store.close()
    return cid


async def open_once(data: Path, server: ScriptedServer) -> float:
    started = time.perf_counter()
    app = VtApp(Settings(base_url=server.base_url, data_dir=data), resume=True)
    async with app.run_test(size=(120, 40)):
        while not any(m.region.height for m in app.query(AssistantMessage)):  # laid out and on screen
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        os.environ["XDG_STATE_HOME"] = tmp
        data = Path(tmp)
        cid = build(data / "conversations.sqlite3")
        load_times = []
        for _ in range(5):
            t = time.perf_counter()
            store = Store(data / "conversations.sqlite3")
            store.turns(cid)
            store.close()
            load_times.append(time.perf_counter() - t)
        opens = [asyncio.run(open_once(data, server)) for _ in range(5)]
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = median(load_times)
    table(
        f"Open a {TURNS * 2:,}-message conversation (median of 5)",
        ("what", "seconds", "× baseline"),
        [
            ("baseline: SQLite read of all turns", base, 1.0),
            ("vt-tui: app start → history on screen", median(opens), median(opens) / base),
        ],
    )
    print(f"\npeak RSS of the process: {rss_mb:.0f} MB (goal ≤ 250 MB); goal ≤ 1 s to open")


if __name__ == "__main__":
    main()
