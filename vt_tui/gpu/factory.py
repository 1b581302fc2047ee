"""Building the sampler a user asked for: local NVML (or a recording), plus Prometheus URLs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from vt_tui.gpu.sampler import GpuSampler


def make_sampler(
    hz: float = 2.0, metrics_urls: Sequence[str] = (), replay: Path | None = None, server_pids: Iterable[int] = ()
) -> GpuSampler:
    """NVML for local GPUs (it reports its own absence as a one-line status), or a JSONL replay."""
    if replay is not None:
        from vt_tui.gpu.replay import ReplaySource

        source = ReplaySource(replay)
    else:
        from vt_tui.gpu.nvml import NvmlSource

        source = NvmlSource(server_pids)
    prometheus = None
    if metrics_urls:
        from vt_tui.gpu.prometheus import PrometheusSource

        prometheus = PrometheusSource(metrics_urls)
    return GpuSampler(source, prometheus, hz=hz)
