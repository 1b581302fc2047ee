"""Periodic GPU sampling on a background thread, with history and per-turn figures."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from contextlib import suppress
from dataclasses import replace
from itertools import pairwise
from math import ceil
from typing import Protocol

from vt_tui.gpu.alerts import AlertState
from vt_tui.gpu.models import GpuKey, GpuSample, HostSource, HostStatus, PrometheusReading, Snapshot

log = logging.getLogger(__name__)

Subscriber = Callable[[Snapshot], None]


class GpuSource(Protocol):
    """Anything that reads local GPUs: NvmlSource, ReplaySource."""

    status: str | None

    def read(self) -> tuple[GpuSample, ...]: ...

    def close(self) -> None: ...


class RemoteSource(Protocol):
    """Anything that reads other hosts and engines: PrometheusSource, or a ReplaySource playing them back."""

    def fetch(self) -> Awaitable[PrometheusReading]: ...

    def aclose(self) -> Awaitable[None]: ...


def integrate(points: Iterable[tuple[float, float]], t0: float, t1: float) -> float:
    """Trapezoidal integral over [t0, t1] of the piecewise-linear curve through (t, y) points."""
    total = 0.0
    for (ta, ya), (tb, yb) in pairwise(points):
        lo, hi = max(ta, t0), min(tb, t1)
        if hi > lo:
            slope = (yb - ya) / (tb - ta)
            total += (ya + slope * (lo - ta) + ya + slope * (hi - ta)) / 2 * (hi - lo)
    return total


def _chosen(gpus: Iterable[GpuSample], keys: Collection[GpuKey] | None) -> Iterable[GpuSample]:
    return (g for g in gpus if keys is None or g.key in keys)


def merge(local: tuple[GpuSample, ...], remote: tuple[GpuSample, ...]) -> tuple[GpuSample, ...]:
    """Local GPUs first, then the remote ones, less any that is a local GPU seen again through an exporter."""
    seen = {g.uuid for g in local if g.uuid}
    return local + tuple(g for g in remote if g.uuid is None or g.uuid not in seen)


class GpuSampler:
    """Samples `source` (and optional remote hosts and engines) at `hz` on its own thread.

    NVML runs in the thread's event loop (blocking it briefly is harmless there); Prometheus
    scrapes run as a task in the same loop at the same rate, and each snapshot carries the
    latest scrape. Each snapshot also carries one status per host (this one is `local_name`)
    and the alerts in force (debounced by `alerts`). Subscribers are called on the sampler
    thread. Stopping closes the sources.
    """

    def __init__(
        self,
        source: GpuSource,
        remote: RemoteSource | None = None,
        *,
        hz: float = 2.0,
        history_s: float = 120.0,
        clock: Callable[[], float] = time.time,
        local_name: str | None = None,
        alerts: AlertState | None = None,
    ) -> None:
        self.source = source
        self.remote = remote
        self.period = 1.0 / hz
        self.local_name = local_name or socket.gethostname()
        self.alerts = alerts or AlertState()
        self._clock = clock
        self._history: deque[Snapshot] = deque(maxlen=ceil(history_s * hz) + 1)
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._scraped = PrometheusReading()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(snapshot)` on the sampler thread after each sample; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def mark_server(self, pid: int) -> None:
        """Highlight ``pid`` as the inference server in process lists (for sources that list processes)."""
        pids = getattr(self.source, "server_pids", None)
        if pids is not None:
            pids.add(pid)

    def start(self) -> None:
        """Start sampling; the first sample is taken at once."""
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="gpu-sampler")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (waking it from its sleep) and release the sources."""
        self._stopping = True
        if self._loop is not None and self._wake is not None:
            with suppress(RuntimeError):  # the loop has already finished
                self._loop.call_soon_threadsafe(self._wake.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def sample(self) -> Snapshot:
        """Read the sources once, record and publish the snapshot."""
        snapshot = self.read()
        snapshot = replace(snapshot, alerts=self.alerts.update(snapshot))
        self.publish(snapshot)
        return snapshot

    def read(self, scraped: PrometheusReading | None = None) -> Snapshot:
        """One snapshot of every source (the latest scrape unless `scraped` is given), without alerts."""
        now = self._clock()
        try:
            local, status = self.source.read(), self.source.status
        except Exception as error:  # a lost GPU must not end the monitor
            log.exception("GPU read failed")
            local, status = (), f"GPU read failed: {error}"
        remote = self._scraped if scraped is None else scraped
        gpus = merge(local, remote.gpus)
        hosts = remote.hosts
        if local or not hosts:  # this machine is one of the hosts when it has GPUs (or is all there is)
            error, seen = (None, now) if local else (status, None)
            here = HostStatus(self.local_name, HostSource.NVML, None, error, seen, len(local))
            hosts = (here, *hosts)
        return Snapshot(
            time=now,
            gpus=gpus,
            engines=remote.engines,
            error=None if gpus else status or "No GPUs",
            hosts=hosts,
        )

    async def snapshot_once(self) -> Snapshot:
        """One snapshot with a fresh scrape, the conditions in force as alerts, then the sources closed
        (`vt-tui gpu --json`; rates from counters need two scrapes, so they are absent)."""
        try:
            scraped = await self.remote.fetch() if self.remote else PrometheusReading()
            snapshot = self.read(scraped)
        finally:
            if self.remote is not None:
                await self.remote.aclose()
            self.source.close()
        return replace(snapshot, alerts=AlertState(hold_s=0.0).update(snapshot))

    def publish(self, snapshot: Snapshot) -> None:
        """Add a snapshot to the history and hand it to the subscribers."""
        with self._lock:
            self._history.append(snapshot)
        for callback in tuple(self._subscribers):
            try:
                callback(snapshot)
            except Exception:
                log.exception("GPU snapshot subscriber failed")

    def history(self) -> tuple[Snapshot, ...]:
        """The kept snapshots, oldest first."""
        with self._lock:
            return tuple(self._history)

    def energy_joules(self, t0: float, t1: float, gpus: Collection[GpuKey] | None = None) -> float:
        """Energy drawn over [t0, t1]: trapezoidal ∫ power dt, summed over the GPUs asked for (all)."""
        history = self.history()
        keys = {g.key for s in history for g in s.gpus} if gpus is None else gpus
        return sum(
            integrate(
                ((s.time, g.power_w) for s in history for g in _chosen(s.gpus, (key,)) if g.power_w is not None),
                t0,
                t1,
            )
            for key in keys
        )

    def peak_vram(self, t0: float, t1: float, gpus: Collection[GpuKey] | None = None) -> int | None:
        """Most VRAM in use (bytes, summed over the GPUs asked for) from the sample in force at t0 to t1."""
        history = self.history()
        first = max(bisect_right([s.time for s in history], t0) - 1, 0)
        return max(
            (sum(g.mem_used or 0 for g in _chosen(s.gpus, gpus)) for s in history[first:] if s.time <= t1 and s.gpus),
            default=None,
        )

    async def _main(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        scraper = asyncio.create_task(self._scrape()) if self.remote else None
        try:
            due = time.monotonic()
            while not self._stopping:
                self.sample()
                due = max(due + self.period, time.monotonic())
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due - time.monotonic())
        finally:
            if scraper is not None:
                scraper.cancel()
                with suppress(asyncio.CancelledError):
                    await scraper
                await self.remote.aclose()
            self.source.close()

    async def _scrape(self) -> None:
        assert self.remote is not None
        while True:
            self._scraped = await self.remote.fetch()
            await asyncio.sleep(self.period)
