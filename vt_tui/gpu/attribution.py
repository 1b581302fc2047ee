"""Which GPUs serve the model, and what a turn cost on them: the one home of that rule.

The first version summed every GPU of the box, so another user's job on GPU 1 was billed to the
chat: on two H200s a turn showed 8.18 J/token where GPU 0, the server's, gave 2.24, and a peak of
10,690 MiB of which 6,899 MiB belonged to the other job. The GPUs are found, in this order:

1. the `gpus` setting (`0,1`, or `HOST:INDEX` for a remote GPU);
2. a local server (the embedded one, or a base_url on this machine): the GPUs holding its process or
   a child of it — the embedded server's PID, else whatever listens on the base_url's port — else
   the GPUs holding a process whose command line is a known engine (one naming the port, if any does);
3. a remote server: the GPUs an exporter reports for that host (dcgm `Hostname`, nvitop `hostname`,
   or the exporter URL's host), narrowed to those running a known engine where nvitop lists processes;
4. otherwise every GPU in scope (this machine's, for a local server), and the figure says "all GPUs".
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import psutil

from vt_tui.core.events import GpuCost
from vt_tui.gpu.models import GpuKey, GpuSample, Snapshot
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.settings import gpu_keys

log = logging.getLogger(__name__)


class ChosenBy(StrEnum):
    """How the GPUs of a turn were found."""

    SETTING = "gpus setting"
    SERVER_PID = "server process"
    PORT = "process on the port"
    COMMAND = "engine command line"
    EXPORTER = "exporter labels"
    NOT_FOUND = "server not found"


def gpu_label(keys: Collection[GpuKey]) -> str:
    """ "GPU 0", "GPUs 0,1", "GPU 1 @gpubox", "GPUs a:0, b:1"; "all GPUs" for none named."""
    if not keys:
        return "all GPUs"
    hosts = {host for host, _ in keys}
    if len(hosts) > 1:
        return "GPUs " + ", ".join(f"{host or 'local'}:{index}" for host, index in sorted(keys, key=str))
    (host,) = hosts
    indices = sorted(index for _, index in keys)
    where = f" @{host}" if host else ""
    return (f"GPU {indices[0]}" if len(indices) == 1 else "GPUs " + ",".join(map(str, indices))) + where


@dataclass(frozen=True, slots=True)
class GpuChoice:
    """The GPUs a turn is counted on (empty: all in scope) and how they were found."""

    gpus: tuple[GpuKey, ...]
    chosen_by: ChosenBy

    @property
    def label(self) -> str:
        return gpu_label(self.gpus)


def is_local(host: str | None) -> bool:
    """Loopback, or this machine's own name."""
    if not host or host in ("localhost", socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def with_children(pids: Iterable[int]) -> set[int]:
    """The processes and all their descendants (vLLM and SGLang hold the GPU in worker processes)."""
    found = set(pids)
    for pid in list(found):
        try:
            found.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            continue
    return found


def listening_pids(port: int) -> set[int]:
    """Processes listening on a TCP port of this machine (ours are visible; others' may not be, unprivileged)."""
    try:
        return {
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.pid and c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        }
    except (psutil.Error, OSError):
        log.info("could not list listening sockets", exc_info=True)
        return set()


def _holding(snapshots: Sequence[Snapshot], pids: Collection[int]) -> tuple[GpuKey, ...]:
    return tuple(dict.fromkeys(g.key for s in snapshots for g in s.gpus if any(p.pid in pids for p in g.processes)))


def _engines(gpus: Iterable[GpuSample], port: int | None) -> tuple[GpuKey, ...]:
    """GPUs running a known engine; only those whose engine names the port, where any does."""
    servers = [(g.key, p.cmdline) for g in gpus for p in g.processes if p.is_server]
    if port is not None:
        named = [(key, cmd) for key, cmd in servers if f"{port}" in cmd.replace(":", " ").replace("=", " ").split()]
        servers = named or servers
    return tuple(dict.fromkeys(key for key, _ in servers))


class GpuMeter:
    """Measures turns on the serving GPUs: the `gpu_cost` hook of a ChatSession (app and `vt-tui ask` alike).

    The sampler and the embedded server's PID may arrive after the meter is made (`attach`, `set_server`).
    """

    def __init__(
        self,
        sampler: GpuSampler | None = None,
        *,
        gpus: Sequence[str] = (),
        base_url: str | None = None,
        server_pid: int | None = None,
    ) -> None:
        self.sampler = sampler
        self.setting = gpu_keys(tuple(gpus))
        parts = urlsplit(base_url) if base_url else None
        self.remote_host = parts.hostname if parts is not None and not is_local(parts.hostname) else None
        self.port = parts.port if parts is not None and self.remote_host is None else None
        self.server_pid = server_pid
        self._listeners: set[int] | None = None

    def attach(self, sampler: GpuSampler) -> None:
        self.sampler = sampler
        if self.server_pid is not None:
            sampler.mark_server(self.server_pid)

    def set_server(self, pid: int) -> None:
        """The embedded server's PID (also marked in the sampler's process lists)."""
        self.server_pid = pid
        if self.sampler is not None:
            self.sampler.mark_server(pid)

    def choose(self, snapshots: Sequence[Snapshot]) -> GpuChoice:
        """The GPUs of the serving process in these snapshots (see the module doc for the order)."""
        if self.setting:
            return GpuChoice(self.setting, ChosenBy.SETTING)
        if self.remote_host is not None:
            return self._remote(snapshots)
        if self.server_pid is not None:
            found = _holding(snapshots, with_children([self.server_pid]))
            if found:
                return GpuChoice(found, ChosenBy.SERVER_PID)
        if self.port is not None:
            if self._listeners is None or not any(psutil.pid_exists(pid) for pid in self._listeners):
                self._listeners = listening_pids(self.port)
            found = _holding(snapshots, with_children(self._listeners))
            if found:
                return GpuChoice(found, ChosenBy.PORT)
        found = _engines((g for s in snapshots for g in s.gpus if g.host is None), self.port)
        return GpuChoice(found, ChosenBy.COMMAND if found else ChosenBy.NOT_FOUND)

    def _remote(self, snapshots: Sequence[Snapshot]) -> GpuChoice:
        names = {self.remote_host}
        names.update(h.name for s in snapshots for h in s.hosts if h.url and urlsplit(h.url).hostname in names)
        there = [g for s in snapshots for g in s.gpus if g.host in names]
        found = _engines(there, None) or tuple(dict.fromkeys(g.key for g in there))
        return GpuChoice(found, ChosenBy.EXPORTER if found else ChosenBy.NOT_FOUND)

    def __call__(self, t0: float, t1: float) -> GpuCost | None:
        """Energy and peak VRAM of [t0, t1] on the serving GPUs; None without GPU readings."""
        sampler = self.sampler
        history = sampler.history() if sampler is not None else ()
        if sampler is None or not any(s.gpus for s in history):
            return None
        window = [s for s in history if t0 - sampler.period <= s.time <= t1] or list(history[-1:])
        choice = self.choose(window)
        keys = choice.gpus or self._everything(window)
        return GpuCost(
            sampler.energy_joules(t0, t1, keys), sampler.peak_vram(t0, t1, keys), choice.label, str(choice.chosen_by)
        )

    def _everything(self, snapshots: Sequence[Snapshot]) -> tuple[GpuKey, ...]:
        """All GPUs in scope: this machine's for a local server (when it has any), else every one."""
        keys = tuple(dict.fromkeys(g.key for s in snapshots for g in s.gpus))
        local = tuple(key for key in keys if key[0] is None)
        return local if self.remote_host is None and local else keys
