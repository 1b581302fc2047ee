"""``python -I -S guard.py COMMAND [ARGS…]``: runs a stdio MCP server that dies with vt-tui.

The MCP SDK starts each stdio server in a new process group and, when vt-tui closes it, ends the whole group. That
does not happen when vt-tui itself is killed (SIGKILL, a crash of the interpreter): a server that ignores the end of
its stdin, or one busy in a call, would live on. The embedded llama.cpp server watches a pipe on its stdin for this
(:mod:`vt_tui.engines.serve_child`), but an MCP server's stdin is its protocol channel. So the SDK starts this guard
instead; the server runs as its child in the same process group, on the same stdin, stdout and stderr (nothing is
relayed). The guard notices that vt-tui is gone when it is re-parented (its parent id changes; a 0.2 s poll, since
``PR_SET_PDEATHSIG`` follows the thread that started the process, not vt-tui) and then ends its group: the server
and anything it started, ``npx``'s node child included. When the server ends first (it may see its stdin close
before the guard sees the re-parenting), the guard ends what the server left in the group. It exits with the
server's exit code (128 + N for a signal).

Standard library only, and run by its path with ``-I -S`` (no site-packages, no current directory on the path):
it starts fast and works whatever the server's working directory and environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

POLL_S = 0.2
SAYS = "vt-tui: "  # starts each line the guard writes on the server's stderr
GRACE_S = 2.0  # between SIGTERM and SIGKILL to the group, as the SDK does


def _end_group(server: subprocess.Popen[bytes]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group's SIGTERM is for the server
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)  # whatever is left, the guard included


def _rest_of_group() -> list[int]:
    """The live processes of our group other than us (from /proc: the guard has only the standard library)."""
    group, me, found = os.getpgrp(), os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    text = stat.read()
            except OSError:
                continue
            state, _, pgrp = text[text.rfind(")") + 2 :].split()[:3]
            if int(pgrp) == group and state != "Z":
                found.append(int(entry))
    return found


def _end_rest() -> None:
    """The server has ended: end what it started in our group (a child that ignores its stdin). vt-tui's close ends
    the group anyway; when vt-tui was killed, the server may see its stdin close and exit before the guard sees the
    re-parenting, and its children would live on. Process by process, so the guard lives to pass on the code."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = _rest_of_group()
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (GRACE_S if sig == signal.SIGTERM else 0)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = _rest_of_group()
        if not left:
            return


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -I -S guard.py COMMAND [ARGS…]", file=sys.stderr)
        return 2
    parent = os.getppid()
    try:
        server = subprocess.Popen(argv)  # inherits stdin, stdout, stderr and our process group
    except OSError as exc:
        print(f"{SAYS}cannot run {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    # The server holds the protocol pipes now; ours would keep vt-tui's reader from seeing the server's end.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    while True:
        try:
            code = server.wait(POLL_S)
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                _end_group(server)
            continue
        _end_rest()
        if code < 0:
            print(f"{SAYS}{argv[0]} was ended by signal {-code}", file=sys.stderr)
            return 128 - code
        if code:
            print(f"{SAYS}{argv[0]} exited with code {code}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
