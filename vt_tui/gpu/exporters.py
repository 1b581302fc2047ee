"""GPU exporters' Prometheus text → GpuSamples: dcgm-exporter, and nvitop-exporter (which lists processes too).

Each GPU carries its host: the exporter's own label (dcgm `Hostname`, nvitop `hostname`), else the
scraped URL's host, so that several exporters make a fleet grouped by host. Where each exporter keeps
each reading is data (`EXPORTERS`), read by one builder.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from vt_tui.gpu.models import MIB, GpuProcess, GpuSample, HostSource, throttle_names
from vt_tui.gpu.programs import is_server
from vt_tui.gpu.promtext import Series, parse_series

Values = dict[str, float]  # one GPU's readings by metric name


def _dcgm_total(v: Values) -> float | None:
    """dcgm reports used, free and reserved frame buffer; the total is their sum."""
    if "DCGM_FI_DEV_FB_USED" not in v or "DCGM_FI_DEV_FB_FREE" not in v:
        return None
    return v["DCGM_FI_DEV_FB_USED"] + v["DCGM_FI_DEV_FB_FREE"] + v.get("DCGM_FI_DEV_FB_RESERVED", 0.0)


@dataclass(frozen=True, slots=True)
class ExporterSpec:
    """Where one exporter keeps each reading: metric names (memory in MiB), label names, and what tells it apart."""

    source: HostSource
    marker: Callable[[str], bool]  # a metric name only this exporter writes
    index_label: str
    name_label: str
    uuid_label: str
    host_label: str
    used_mib: str
    total_mib: Callable[[Values], float | None]
    util: str
    util_mem: str
    temperature: str
    power: str
    power_limit: str
    sm_clock: str
    throttle: tuple[str, ...] = ()  # bitmask metrics, first present wins
    ecc_uncorrected: str | None = None
    slowdown_temperature: str | None = None


EXPORTERS = (
    ExporterSpec(
        source=HostSource.DCGM,
        marker=lambda name: name.startswith("DCGM_FI_DEV_"),
        index_label="gpu",
        name_label="modelName",
        uuid_label="UUID",
        host_label="Hostname",
        used_mib="DCGM_FI_DEV_FB_USED",
        total_mib=_dcgm_total,
        util="DCGM_FI_DEV_GPU_UTIL",
        util_mem="DCGM_FI_DEV_MEM_COPY_UTIL",
        temperature="DCGM_FI_DEV_GPU_TEMP",
        power="DCGM_FI_DEV_POWER_USAGE",
        power_limit="DCGM_FI_DEV_POWER_MGMT_LIMIT",
        sm_clock="DCGM_FI_DEV_SM_CLOCK",
        throttle=("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"),
        ecc_uncorrected="DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        slowdown_temperature="DCGM_FI_DEV_SLOWDOWN_TEMP",
    ),
    ExporterSpec(  # nvitop-exporter: prometheus_client appends each gauge's unit to its name
        source=HostSource.NVITOP,
        marker=lambda name: name == "gpu_memory_used_MiB",
        index_label="index",
        name_label="devicename",
        uuid_label="uuid",
        host_label="hostname",
        used_mib="gpu_memory_used_MiB",
        total_mib=lambda v: v.get("gpu_memory_total_MiB"),
        util="gpu_utilization_Percentage",
        util_mem="gpu_memory_utilization_Percentage",
        temperature="gpu_temperature_C",
        power="gpu_power_usage_W",
        power_limit="gpu_power_limit_W",
        sm_clock="gpu_clock_sm_MHz",
    ),
)


def parse_dcgm(text: str, fallback_host: str | None = None) -> tuple[GpuSample, ...]:
    """One GpuSample per `gpu` label of dcgm-exporter output (no process list)."""
    return gpus_of(EXPORTERS[0], parse_series(text), fallback_host)


def exporter_gpus(series: Series, fallback_host: str | None) -> tuple[HostSource | None, tuple[GpuSample, ...]]:
    """Which exporter wrote this text, and its GPUs; (None, ()) for text from neither."""
    for spec in EXPORTERS:
        if any(spec.marker(name) for name in series):
            return spec.source, gpus_of(spec, series, fallback_host)
    return None, ()


def gpus_of(spec: ExporterSpec, series: Series, fallback_host: str | None = None) -> tuple[GpuSample, ...]:
    """The exporter's GPUs by index label (MIG instances, "0:1", and NaN readings such as nvitop's fan speed of a
    fanless GPU are skipped; per-NVLink figures too)."""
    values: dict[int, Values] = defaultdict(dict)
    labels: dict[int, dict[str, str]] = {}
    for name, points in series.items():
        for point_labels, value in points:
            index = point_labels.get(spec.index_label, "")
            if index.isdigit() and "link" not in point_labels and "pid" not in point_labels and math.isfinite(value):
                values[int(index)][name] = value
                labels.setdefault(int(index), point_labels)
    processes = _nvitop_processes(series) if spec.source is HostSource.NVITOP else {}
    return tuple(
        _sample(spec, gpu, values[gpu], labels[gpu], processes.get(gpu, ()), fallback_host) for gpu in sorted(values)
    )


def _sample(
    spec: ExporterSpec,
    gpu: int,
    v: Values,
    labels: dict[str, str],
    processes: tuple[GpuProcess, ...],
    fallback_host: str | None,
) -> GpuSample:
    def whole(key: str | None) -> int | None:
        return int(v[key]) if key in v else None

    used, total = v.get(spec.used_mib), spec.total_mib(v)
    reasons = next((v[name] for name in spec.throttle if name in v), None)
    return GpuSample(
        index=gpu,
        name=labels.get(spec.name_label, f"GPU {gpu}"),
        uuid=labels.get(spec.uuid_label),
        mem_used=int(used * MIB) if used is not None else None,
        mem_total=int(total * MIB) if total is not None else None,
        util_gpu=whole(spec.util),
        util_mem=whole(spec.util_mem),
        temperature_c=whole(spec.temperature),
        power_w=v.get(spec.power),
        power_limit_w=v.get(spec.power_limit),
        sm_clock_mhz=whole(spec.sm_clock),
        processes=processes,
        host=labels.get(spec.host_label) or fallback_host,
        throttle=throttle_names(int(reasons)) if reasons is not None else (),
        ecc_uncorrected=whole(spec.ecc_uncorrected),
        temperature_limit_c=whole(spec.slowdown_temperature),
    )


def _nvitop_processes(series: Series) -> dict[int, tuple[GpuProcess, ...]]:
    """nvitop-exporter's per-process gauges: memory by (GPU, pid), the command line from `process_info`."""
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
