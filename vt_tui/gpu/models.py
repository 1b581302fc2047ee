"""Immutable records of GPU and serving-engine readings, with JSON round-trips."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding memory on a GPU."""

    pid: int
    name: str
    cmdline: str
    used_bytes: int | None
    is_server: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuProcess:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One reading of one GPU; a field is None where the device does not report it."""

    index: int
    name: str
    uuid: str | None
    mem_used: int | None
    mem_total: int | None
    util_gpu: int | None
    util_mem: int | None
    temperature_c: int | None
    power_w: float | None
    power_limit_w: float | None
    sm_clock_mhz: int | None
    processes: tuple[GpuProcess, ...] = ()
    host: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuSample:
        procs = tuple(GpuProcess.from_dict(p) for p in data.get("processes", ()))
        return cls(**{**data, "processes": procs})


@dataclass(frozen=True, slots=True)
class EngineMetrics:
    """Serving-engine figures scraped from one Prometheus endpoint (or why it failed)."""

    url: str
    kv_cache_usage: float | None = None
    running: int | None = None
    waiting: int | None = None
    gen_tokens_per_s: float | None = None
    raw: dict[str, float] = field(default_factory=dict)
    engine: str | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineMetrics:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything sampled at one instant; `error` says why GPUs are missing."""

    time: float
    gpus: tuple[GpuSample, ...] = ()
    engines: tuple[EngineMetrics, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            time=data["time"],
            gpus=tuple(GpuSample.from_dict(g) for g in data.get("gpus", ())),
            engines=tuple(EngineMetrics.from_dict(e) for e in data.get("engines", ())),
            error=data.get("error"),
        )


class PrometheusReading(NamedTuple):
    """What one round of Prometheus scrapes found."""

    gpus: tuple[GpuSample, ...] = ()
    engines: tuple[EngineMetrics, ...] = ()
