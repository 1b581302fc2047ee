"""Building the sampler a user asked for: local NVML (or a recording), plus remote exporters and engines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from vt_tui.gpu.sampler import GpuSampler


def make_sampler(
    hz: float = 2.0, metrics_urls: Sequence[str] = (), replay: Path | None = None, server_pids: Iterable[int] = ()
) -> GpuSampler:
    """NVML for local GPUs (it reports its own absence as a one-line status), or a JSONL replay of everything."""
    if replay is not None:
        from vt_tui.gpu.replay import ReplaySource

        recorded = ReplaySource(replay)
        return GpuSampler(recorded, recorded, hz=hz)
    from vt_tui.gpu.nvml import NvmlSource

    remote = None
    if metrics_urls:
        from vt_tui.gpu.prometheus import PrometheusSource

        remote = PrometheusSource(metrics_urls)
    return GpuSampler(NvmlSource(server_pids), remote, hz=hz)
