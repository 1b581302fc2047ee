"""Made-up but well-formed GPU fleets for the pane's tests and snapshots (built from the exporter fixtures)."""

from __future__ import annotations

from dataclasses import replace

from tests.support.metrics_server import fixture
from vt_tui.gpu.exporters import exporter_gpus, parse_dcgm
from vt_tui.gpu.models import GIB, GpuProcess, GpuSample, HostSource, HostStatus, Snapshot
from vt_tui.gpu.promtext import parse_series

NOW = 1_000_000.0


def h200(host: str, index: int, used_gib: float, util: int, power: float, temp: int = 52) -> GpuSample:
    clock = 1980 if util else 345
    used = int(used_gib * GIB)
    return GpuSample(index, "NVIDIA H200", f"GPU-{host}-{index}", used, 140 * GIB, util, util // 2, temp, power, 700.0,
                     clock, host=host)  # fmt: skip


def fleet(hosts: int = 2, per_host: int = 8, lost: str | None = "gpunode-c") -> Snapshot:
    """`hosts` reachable hosts of `per_host` H200s (varied load), plus one unreachable host `lost`."""
    gpus, statuses = [], []
    for h in range(hosts):
        name = f"gpunode-{chr(ord('a') + h)}"
        for i in range(per_host):
            load = (i * 37 + h * 11) % 100
            gpus.append(h200(name, i, 20 + load * 1.15, load, 90 + load * 6, 40 + load // 3))
        statuses.append(HostStatus(name, HostSource.DCGM, f"http://{name}:9400/metrics", None, NOW - 0.4, per_host))
    if lost:
        statuses.append(HostStatus(lost, HostSource.NVITOP, f"http://{lost}:5050/metrics", "timed out", NOW - 42))
    return Snapshot(NOW, tuple(gpus), hosts=tuple(statuses))


def two_exporters() -> Snapshot:
    """The two exporter fixtures side by side: dcgm-exporter on gpubox, nvitop-exporter on gpunode-b."""
    dcgm = parse_dcgm(fixture("prom-dcgm.txt"))
    _, nvitop = exporter_gpus(parse_series(fixture("prom-nvitop.txt")), None)
    server = GpuProcess(
        4242, "llama-server", "/usr/local/bin/llama-server -m /models/qwen.gguf --metrics", 70 * GIB, True
    )
    dcgm = (replace(dcgm[0], processes=(server,)), dcgm[1])
    hosts = (
        HostStatus("gpubox", HostSource.DCGM, "http://gpubox:9400/metrics", None, NOW - 0.3, 2),
        HostStatus("gpunode-b", HostSource.NVITOP, "http://gpunode-b:5050/metrics", None, NOW - 3.2, 2),
    )
    return Snapshot(NOW, dcgm + nvitop, hosts=hosts)
