"""Periodic GPU sampling on a background thread, with history and per-turn figures."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from itertools import pairwise
from math import ceil
from typing import TYPE_CHECKING, Protocol

from vt_tui.gpu.models import GpuSample, PrometheusReading, Snapshot

if TYPE_CHECKING:  # httpx and prometheus_client cost ~100 ms: not on the start-up path
    from vt_tui.gpu.prometheus import PrometheusSource

log = logging.getLogger(__name__)

Subscriber = Callable[[Snapshot], None]


class GpuSource(Protocol):
    """Anything that reads local GPUs: NvmlSource, ReplaySource."""

    status: str | None

    def read(self) -> tuple[GpuSample, ...]: ...

    def close(self) -> None: ...


def integrate(points: Iterable[tuple[float, float]], t0: float, t1: float) -> float:
    """Trapezoidal integral over [t0, t1] of the piecewise-linear curve through (t, y) points."""
    total = 0.0
    for (ta, ya), (tb, yb) in pairwise(points):
        lo, hi = max(ta, t0), min(tb, t1)
        if hi > lo:
            slope = (yb - ya) / (tb - ta)
            total += (ya + slope * (lo - ta) + ya + slope * (hi - ta)) / 2 * (hi - lo)
    return total


def _chosen(gpus: Iterable[GpuSample], indices: Collection[int] | None) -> Iterable[GpuSample]:
    return (g for g in gpus if indices is None or g.index in indices)


class GpuSampler:
    """Samples `source` (and optional Prometheus endpoints) at `hz` on its own thread.

    NVML runs in the thread's event loop (blocking it briefly is harmless there); Prometheus
    scrapes run as a task in the same loop at the same rate, and each snapshot carries the
    latest scrape. Subscribers are called on the sampler thread. Stopping closes the sources.
    """

    def __init__(
        self,
        source: GpuSource,
        prometheus: PrometheusSource | None = None,
        *,
        hz: float = 2.0,
        history_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.prometheus = prometheus
        self.period = 1.0 / hz
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
        try:
            gpus, status = self.source.read(), self.source.status
        except Exception as error:  # a lost GPU must not end the monitor
            log.exception("GPU read failed")
            gpus, status = (), f"GPU read failed: {error}"
        gpus = gpus or self._scraped.gpus
        snapshot = Snapshot(
            time=self._clock(),
            gpus=gpus,
            engines=self._scraped.engines,
            error=None if gpus else status or "No GPUs",
        )
        self.publish(snapshot)
        return snapshot

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

    def energy_joules(self, t0: float, t1: float, gpu_indices: Collection[int] | None = None) -> float:
        """Energy drawn over [t0, t1]: trapezoidal ∫ power dt, summed over the GPUs asked for (all)."""
        history = self.history()
        indices = {g.index for s in history for g in s.gpus} if gpu_indices is None else gpu_indices
        return sum(
            integrate(
                ((s.time, g.power_w) for s in history for g in _chosen(s.gpus, (i,)) if g.power_w is not None),
                t0,
                t1,
            )
            for i in indices
        )

    def peak_vram(self, t0: float, t1: float, gpu_indices: Collection[int] | None = None) -> int | None:
        """Most VRAM in use (bytes, summed over the GPUs asked for) from the sample in force at t0 to t1."""
        history = self.history()
        first = max(bisect_right([s.time for s in history], t0) - 1, 0)
        return max(
            (
                sum(g.mem_used or 0 for g in _chosen(s.gpus, gpu_indices))
                for s in history[first:]
                if s.time <= t1 and s.gpus
            ),
            default=None,
        )

    async def _main(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        scraper = asyncio.create_task(self._scrape()) if self.prometheus else None
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
                await self.prometheus.aclose()
            self.source.close()

    async def _scrape(self) -> None:
        assert self.prometheus is not None
        while True:
            self._scraped = await self.prometheus.fetch()
            await asyncio.sleep(self.period)
