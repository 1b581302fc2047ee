"""The guard that keeps every test on loopback (tests/support/netguard) catches what it claims to."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.support.ports import closed_port


def taken(blocked: list[str]) -> list[str]:
    """The attempts this test made on purpose, taken out so the guard does not fail it."""
    out, blocked[:] = list(blocked), []
    return out


def test_connections_datagrams_and_lookups_past_loopback_are_blocked(no_network_past_loopback: list[str]) -> None:
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("93.184.216.34", 80), timeout=5):
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(ConnectionRefusedError):
        udp.sendto(b"x", ("8.8.8.8", 53))
    with pytest.raises(OSError, match=re.escape("netguard: blocked name lookup of 'example.com'")):
        urllib.request.urlopen("http://example.com/", timeout=5)
    with pytest.raises(httpx.ConnectError, match="netguard"):
        httpx.get("http://[2606:4700:4700::1111]/", timeout=5)
    assert [line.split(" (")[0] for line in taken(no_network_past_loopback)] == [
        "netguard: blocked connection to 93.184.216.34:80",
        "netguard: blocked datagram to 8.8.8.8:53",
        "netguard: blocked name lookup of 'example.com'",
        "netguard: blocked connection to 2606:4700:4700::1111:80",
    ]


def test_loopback_stays_open(no_network_past_loopback: list[str]) -> None:
    port = closed_port()
    for host in ("127.0.0.1", "localhost", "::1", "127.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as sock:
            assert sock.connect_ex((host, port)) != 0  # refused by the kernel, not by the guard
    assert no_network_past_loopback == []


def test_web_search_through_its_own_http_client_is_blocked(no_network_past_loopback: list[str]) -> None:
    from ddgs import DDGS
    from ddgs.exceptions import DDGSException

    with pytest.raises(DDGSException):
        DDGS(timeout=2).text("arctic terns", max_results=1)
    blocked = taken(no_network_past_loopback)
    assert blocked and all("netguard: blocked web search request" in line for line in blocked)


def test_child_processes_are_guarded_and_report(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    code = (
        "import urllib.request as u\ntry:\n    u.urlopen('http://1.1.1.1/', timeout=5)\nexcept OSError as e:\n print(e)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NETGUARD_LOG": str(log)},
    )
    assert "netguard: blocked connection to 1.1.1.1:80" in done.stdout
    assert "netguard: blocked connection to 1.1.1.1:80" in log.read_text()
