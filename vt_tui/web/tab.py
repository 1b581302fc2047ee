"""Entry point of each browser tab's process: ``vt-tui`` that ends when ``vt-tui web`` does.

Textual's web driver reads the tab's keys from stdin; when the server process is gone (SIGKILL, a crash) that
input just ends and the app would live on, an orphan holding memory and the conversation store. A thread watches
for the parent to change (we are re-parented when it dies) and asks the app to quit the way ``kill`` does: the
web driver turns SIGTERM into a clean exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

POLL_S = 0.5
GRACE_S = 5.0  # after SIGTERM, before giving up on a clean exit


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(1)


def main() -> int:
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    from vt_tui.cli import main as vt_tui

    return vt_tui(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
