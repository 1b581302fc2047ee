"""No test reaches past loopback: every connection, datagram and name lookup to anything but this machine fails.

Installed in the pytest process by tests/conftest.py, and in every Python process the tests start (vt-tui, the
scripted server, the embedded llama.cpp server) through ``sitecustomize.py`` beside this file, which conftest puts
on ``PYTHONPATH``. It works at the socket level (``socket.socket.connect``/``connect_ex``/``sendto`` and
``socket.getaddrinfo``), so it covers httpx, requests, urllib, asyncio and DNS alike; ``ddgs`` (web search)
talks through a Rust client that Python's sockets never see, so its HTTP client is guarded by name too.

A blocked attempt raises :class:`BlockedConnection` (a ``ConnectionRefusedError``, so the code under test takes
its ordinary path) and is recorded: in this process in :data:`violations`, in a child in the file named by
``$NETGUARD_LOG``. conftest fails the test that made one, even when the code under test swallowed the error.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import ipaddress
import os
import socket
import sys
from typing import Any

LOG_ENV = "NETGUARD_LOG"
violations: list[str] = []
_to_file = True  # a child records to $NETGUARD_LOG; the pytest process keeps its own in ``violations``
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_getaddrinfo = socket.getaddrinfo
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", socket.gethostname()}


class BlockedConnection(ConnectionRefusedError):
    """A test tried to reach past loopback."""


def is_local(host: Any) -> bool:
    """True for loopback addresses and this machine's own names; host may carry an IPv6 scope."""
    text = host.decode() if isinstance(host, bytes) else "" if host is None else str(host)
    if text == "" or text.lower() in LOCAL_NAMES:
        return True
    address = literal(text)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an address literal stands for, in any form the resolver takes without a lookup ("127.1",
    "2130706433", "0x7f.0.0.1", "::1%lo"); None for a name."""
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def block(what: str) -> BlockedConnection:
    message = f"netguard: blocked {what} (no test may reach past loopback)"
    violations.append(message)
    log = os.environ.get(LOG_ENV)
    if log and _to_file:
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"{os.getpid()} {message}\n")
    return BlockedConnection(message)


def _check(sock: socket.socket, address: Any, verb: str) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and not is_local(address[0]):
        raise block(f"{verb} to {address[0]}:{address[1]}")


def _connect(self: socket.socket, address: Any) -> None:
    _check(self, address, "connection")
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address, "connection")
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: bytes, *args: Any) -> int:
    _check(self, args[-1], "datagram")
    return _real_sendto(self, data, *args)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # An address literal resolves without a lookup; connecting to it is checked above.
    if not is_local(host) and literal(host.decode() if isinstance(host, bytes) else str(host)) is None:
        raise socket.gaierror(socket.EAI_NONAME, str(block(f"name lookup of {host!r}")))
    return _real_getaddrinfo(host, *args, **kwargs)


class _DdgsGuard(importlib.abc.MetaPathFinder):
    """Guards ``ddgs.http_client`` when something imports it (importing it up front costs every process 50 ms)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "ddgs.http_client":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            load(module)
            from ddgs.exceptions import DDGSException

            def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                raise DDGSException(str(block(f"web search request {method} {url}")))

            module.HttpClient.request = request

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install(to_file: bool = True) -> None:
    global _to_file
    _to_file = to_file
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.socket.sendto = _sendto
    socket.getaddrinfo = _getaddrinfo
    if not any(isinstance(finder, _DdgsGuard) for finder in sys.meta_path):
        sys.meta_path.insert(0, _DdgsGuard())
