"""GPU exporters' Prometheus text → GpuSamples: dcgm-exporter, and nvitop-exporter (which lists processes too).

Each GPU carries its host: the exporter's own label (dcgm `Hostname`, nvitop `hostname`), else the
scraped URL's host, so that several exporters make a fleet grouped by host.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from vt_tui.gpu.models import MIB, GpuProcess, GpuSample, HostSource, throttle_names
from vt_tui.gpu.programs import is_server
from vt_tui.gpu.promtext import Series, parse_series

DCGM_PREFIX = "DCGM_FI_DEV_"
NVITOP_GPU = "gpu_memory_used_MiB"  # the family that tells nvitop-exporter text apart


def parse_dcgm(text: str, fallback_host: str | None = None) -> tuple[GpuSample, ...]:
    """One GpuSample per `gpu` label of dcgm-exporter output (no process list)."""
    return dcgm_gpus(parse_series(text), fallback_host)


def exporter_gpus(series: Series, fallback_host: str | None) -> tuple[HostSource | None, tuple[GpuSample, ...]]:
    """Which exporter wrote this text, and its GPUs; (None, ()) for text from neither."""
    if any(name.startswith(DCGM_PREFIX) for name in series):
        return HostSource.DCGM, dcgm_gpus(series, fallback_host)
    if NVITOP_GPU in series:
        return HostSource.NVITOP, nvitop_gpus(series, fallback_host)
    return None, ()


def _by_gpu(
    points: Iterable[tuple[str, dict[str, str], float]], index_label: str
) -> tuple[dict[int, dict[str, float]], dict[int, dict[str, str]]]:
    """Values per GPU index, and the first label set seen for each (MIG instances, "0:1", and NaN readings
    such as nvitop's fan speed of a fanless GPU are skipped)."""
    values: dict[int, dict[str, float]] = defaultdict(dict)
    labels: dict[int, dict[str, str]] = {}
    for name, point_labels, value in points:
        index = point_labels.get(index_label, "")
        if index.isdigit() and math.isfinite(value):
            values[int(index)][name] = value
            labels.setdefault(int(index), point_labels)
    return values, labels


def dcgm_gpus(series: Series, fallback_host: str | None = None) -> tuple[GpuSample, ...]:
    points = (
        (name.removeprefix(DCGM_PREFIX), labels, value)
        for name, samples in series.items()
        if name.startswith(DCGM_PREFIX)
        for labels, value in samples
    )
    values, labels = _by_gpu(points, "gpu")
    return tuple(_dcgm_sample(gpu, values[gpu], labels[gpu], fallback_host) for gpu in sorted(values))


def _whole(values: dict[str, float], key: str) -> int | None:
    return int(values[key]) if key in values else None


def _dcgm_sample(gpu: int, v: dict[str, float], labels: dict[str, str], fallback_host: str | None) -> GpuSample:
    used, free = v.get("FB_USED"), v.get("FB_FREE")
    total = used + free + v.get("FB_RESERVED", 0.0) if used is not None and free is not None else None
    reasons = v.get("CLOCKS_EVENT_REASONS", v.get("CLOCK_THROTTLE_REASONS"))
    return GpuSample(
        index=gpu,
        name=labels.get("modelName", f"GPU {gpu}"),
        uuid=labels.get("UUID"),
        mem_used=int(used * MIB) if used is not None else None,
        mem_total=int(total * MIB) if total is not None else None,
        util_gpu=_whole(v, "GPU_UTIL"),
        util_mem=_whole(v, "MEM_COPY_UTIL"),
        temperature_c=_whole(v, "GPU_TEMP"),
        power_w=v.get("POWER_USAGE"),
        power_limit_w=v.get("POWER_MGMT_LIMIT"),
        sm_clock_mhz=_whole(v, "SM_CLOCK"),
        host=labels.get("Hostname") or fallback_host,
        throttle=throttle_names(int(reasons)) if reasons is not None else (),
        ecc_uncorrected=_whole(v, "ECC_DBE_VOL_TOTAL"),
        temperature_limit_c=_whole(v, "SLOWDOWN_TEMP"),
    )


def nvitop_gpus(series: Series, fallback_host: str | None = None) -> tuple[GpuSample, ...]:
    """nvitop-exporter's `gpu_*` gauges (names end in their unit) and its per-process gauges."""
    points = (
        (name, labels, value)
        for name, samples in series.items()
        if name.startswith("gpu_")
        for labels, value in samples
        if "link" not in labels  # per-NVLink figures
    )
    values, labels = _by_gpu(points, "index")
    processes = _nvitop_processes(series)
    return tuple(
        _nvitop_sample(gpu, values[gpu], labels[gpu], processes.get(gpu, ()), fallback_host) for gpu in sorted(values)
    )


def _nvitop_processes(series: Series) -> dict[int, tuple[GpuProcess, ...]]:
    commands = {
        (labels.get("index"), labels.get("pid")): labels.get("command", "")
        for labels, _ in series.get("process_info_info", ())
    }
    found: dict[int, list[GpuProcess]] = defaultdict(list)
    for labels, mib in series.get("process_gpu_memory_MiB", ()):
        index, pid = labels.get("index", ""), labels.get("pid", "")
        if index.isdigit() and pid.isdigit():
            command = commands.get((index, pid), "")
            name = command.split()[0].rsplit("/", 1)[-1] if command else f"pid {pid}"
            found[int(index)].append(GpuProcess(int(pid), name, command, int(mib * MIB), is_server(name, command)))
    return {gpu: tuple(sorted(procs, key=lambda p: -(p.used_bytes or 0))) for gpu, procs in found.items()}


def _nvitop_sample(
    gpu: int,
    v: dict[str, float],
    labels: dict[str, str],
    processes: tuple[GpuProcess, ...],
    fallback_host: str | None,
) -> GpuSample:
    used, total = v.get("gpu_memory_used_MiB"), v.get("gpu_memory_total_MiB")
    return GpuSample(
        index=gpu,
        name=labels.get("devicename", f"GPU {gpu}"),
        uuid=labels.get("uuid"),
        mem_used=int(used * MIB) if used is not None else None,
        mem_total=int(total * MIB) if total is not None else None,
        util_gpu=_whole(v, "gpu_utilization_Percentage"),
        util_mem=_whole(v, "gpu_memory_utilization_Percentage"),
        temperature_c=_whole(v, "gpu_temperature_C"),
        power_w=v.get("gpu_power_usage_W"),
        power_limit_w=v.get("gpu_power_limit_W"),
        sm_clock_mhz=_whole(v, "gpu_clock_sm_MHz"),
        processes=processes,
        host=labels.get("hostname") or fallback_host,
    )
