"""What ``vt-tui web`` tells the terminal it runs in: the URL to open, the ``ssh -L`` command that brings it to a
laptop, and, for a bind beyond loopback, what that exposes.

Pure functions of the bind address, the environment and the endpoint, so each line is tested as printed.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import socket
from collections.abc import Mapping

ALL_INTERFACES = ("", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    """Only this machine can connect: ``localhost`` or a loopback address (a name is not resolved: warn)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def in_url(host: str) -> str:
    """``host`` as a URL or ``ssh -L`` writes it (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def local_address(host: str) -> str:
    """The address a browser on this machine (or at the far end of ``ssh -L``) connects to."""
    return "127.0.0.1" if host in ALL_INTERFACES or is_loopback(host) else host


def page_url(host: str, port: int, token: str) -> str:
    return f"http://{in_url(local_address(host))}:{port}/?token={token}"


def ssh_destination(environ: Mapping[str, str]) -> str:
    """``USER@HOST`` for the laptop's ``ssh``: the address this SSH session reached us on
    (``$SSH_CONNECTION``'s third field) when there is one, else this machine's name."""
    user = environ.get("USER") or environ.get("LOGNAME") or getpass.getuser()
    parts = environ.get("SSH_CONNECTION", "").split()
    server = parts[2] if len(parts) == 4 else socket.gethostname()
    return f"{user}@{server}"


def ssh_command(host: str, port: int, environ: Mapping[str, str] = os.environ) -> str:
    return f"ssh -L {port}:{in_url(local_address(host))}:{port} {ssh_destination(environ)}"


def exposure_warning(host: str, port: int, endpoint: str, database: str) -> list[str]:
    """Lines saying what a bind beyond loopback hands to the network; none for loopback."""
    if is_loopback(host):
        return []
    where = "every address of this machine" if host in ALL_INTERFACES else in_url(host)
    return [
        f"WARNING: listening on {where}, port {port}: other machines can reach it, not only this one.",
        "  Whoever has the URL below (it carries the token) gets vt-tui as you: the endpoint",
        f"  ({endpoint}), your conversations ({database}), the agent's tools (web fetch and search from",
        "  this machine, your plugins) and this machine's GPU view. Plain HTTP: the token and every keystroke",
        "  cross the network unencrypted. The default (--host 127.0.0.1) with ssh -L keeps it to you.",
    ]


def banner(host: str, port: int, token: str, endpoint: str, database: str, environ: Mapping[str, str]) -> str:
    url = page_url(host, port, token)
    forwarded = page_url("127.0.0.1", port, token)  # on the laptop, at the near end of ssh -L
    target = local_address(host)
    lines = [
        *exposure_warning(host, port, endpoint, database),
        f"vt-tui web: each browser tab is its own vt-tui, all on {endpoint}.",
        f"  Open:  {url}",
        f"  From your own machine: {ssh_command(host, port, environ)}",
        "  then open " + ("the same URL there." if forwarded == url else forwarded),
        f"  (another local port works too: ssh -L 9000:{in_url(target)}:{port}, and 9000 in the URL).",
        "  Ctrl+C stops it, and every tab's vt-tui with it.",
    ]
    return "\n".join(lines)
