"""Recorded snapshots as JSONL: writing them as they come, and a source that plays them back in real time.

A replay stands in for both halves of a live sampler: `read()` gives the recorded local (NVML)
GPUs, and `fetch()` the recorded remote hosts, their GPUs and the engines, so a recording of a
fleet replays as a fleet. Alerts are not replayed: the sampler works them out again.
"""

from __future__ import annotations

import json
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from vt_tui.gpu.models import GpuSample, HostSource, PrometheusReading, Snapshot


def load_snapshots(path: str | Path) -> tuple[Snapshot, ...]:
    """Every snapshot of a JSONL file, one per line."""
    with open(path, encoding="utf-8") as file:
        return tuple(Snapshot.from_dict(json.loads(line)) for line in file if line.strip())


def write_snapshot(file: TextIO, snapshot: Snapshot) -> None:
    """Append one snapshot as a compact JSON line."""
    file.write(json.dumps(snapshot.to_dict(), separators=(",", ":")) + "\n")


class SnapshotRecorder:
    """A sampler subscriber that appends every snapshot to a JSONL file (`vt-tui gpu --record FILE`)."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the recorder's life
        self._lock = threading.Lock()

    def __call__(self, snapshot: Snapshot) -> None:
        with self._lock:
            if not self._file.closed:
                write_snapshot(self._file, snapshot)
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class ReplaySource:
    """Loops over recorded snapshots at their recorded pace, like a live GPU source (and remote source).

    `wall_clock` is the sampler's clock: hosts' "last seen" times are moved onto it, so the age of
    a host's last scrape reads as it did when recorded.
    """

    def __init__(
        self,
        snapshots: Iterable[Snapshot] | str | Path,
        *,
        start_at: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        frames = load_snapshots(snapshots) if isinstance(snapshots, str | Path) else tuple(snapshots)
        if not frames:
            raise ValueError("nothing to replay")
        self.snapshots = frames
        self._offsets = [s.time - frames[0].time for s in frames]
        step = self._offsets[-1] / (len(frames) - 1) if len(frames) > 1 else 1.0
        self._span = self._offsets[-1] + step
        self._clock = clock
        self._wall_clock = wall_clock
        self._origin = clock() - start_at
        self.status: str | None = frames[0].error

    def current(self) -> Snapshot:
        """The recorded snapshot for this moment of the playback."""
        elapsed = (self._clock() - self._origin) % self._span
        return self.snapshots[bisect_right(self._offsets, elapsed) - 1]

    def read(self) -> tuple[GpuSample, ...]:
        """The recorded local GPUs (those without a host)."""
        frame = self.current()
        self.status = frame.error
        return tuple(g for g in frame.gpus if g.host is None)

    async def fetch(self) -> PrometheusReading:
        """The recorded remote GPUs, engines and hosts (this machine's status is made afresh by the sampler)."""
        frame = self.current()
        shift = self._wall_clock() - frame.time
        hosts = tuple(
            replace(h, last_seen=None if h.last_seen is None else h.last_seen + shift)
            for h in frame.hosts
            if h.source is not HostSource.NVML
        )
        return PrometheusReading(tuple(g for g in frame.gpus if g.host is not None), frame.engines, hosts)

    def close(self) -> None:
        """Nothing to release."""

    async def aclose(self) -> None:
        """Nothing to release."""
