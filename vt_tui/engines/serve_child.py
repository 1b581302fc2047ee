"""Entry point of the embedded server's process: llama_cpp.server that exits when its parent does.

The parent holds the write end of our stdin. When the parent exits for any reason, SIGKILL included, the
kernel closes it, the read below returns EOF and we leave at once: no orphan server keeps the port or RAM.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading


def _exit_with_parent() -> None:
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main() -> None:
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
