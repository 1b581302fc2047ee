"""Recorded snapshots as JSONL, and a source that plays them back in real time."""

from __future__ import annotations

import json
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from vt_tui.gpu.models import GpuSample, Snapshot


def load_snapshots(path: str | Path) -> tuple[Snapshot, ...]:
    """Every snapshot of a JSONL file, one per line."""
    with open(path, encoding="utf-8") as file:
        return tuple(Snapshot.from_dict(json.loads(line)) for line in file if line.strip())


def write_snapshot(file: TextIO, snapshot: Snapshot) -> None:
    """Append one snapshot as a compact JSON line."""
    file.write(json.dumps(snapshot.to_dict(), separators=(",", ":")) + "\n")


class ReplaySource:
    """Loops over recorded snapshots at their recorded pace, like a live GPU source."""

    def __init__(
        self,
        snapshots: Iterable[Snapshot] | str | Path,
        *,
        start_at: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        frames = load_snapshots(snapshots) if isinstance(snapshots, str | Path) else tuple(snapshots)
        if not frames:
            raise ValueError("nothing to replay")
        self.snapshots = frames
        self._offsets = [s.time - frames[0].time for s in frames]
        step = self._offsets[-1] / (len(frames) - 1) if len(frames) > 1 else 1.0
        self._span = self._offsets[-1] + step
        self._clock = clock
        self._origin = clock() - start_at
        self.status: str | None = frames[0].error

    def current(self) -> Snapshot:
        """The recorded snapshot for this moment of the playback."""
        elapsed = (self._clock() - self._origin) % self._span
        return self.snapshots[bisect_right(self._offsets, elapsed) - 1]

    def read(self) -> tuple[GpuSample, ...]:
        frame = self.current()
        self.status = frame.error
        return frame.gpus

    def close(self) -> None:
        """Nothing to release."""
