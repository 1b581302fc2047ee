"""Immutable records of GPU, host and serving-engine readings, with JSON round-trips.

Every field added since the first recordings has a default, so older JSONL files still load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

GIB = 1024**3
MIB = 1024**2

GpuKey = tuple[str | None, int]  # (host, index); host None is this machine

# Clock-event ("throttle") reason bits that cost speed, as NVML and DCGM number them; idle, sync boost and
# application or display clock settings are left out.
THROTTLE_REASONS = {
    0x04: "power cap",
    0x08: "hw slowdown",
    0x20: "thermal (sw)",
    0x40: "thermal (hw)",
    0x80: "power brake",
}


def throttle_names(mask: int) -> tuple[str, ...]:
    """The reasons set in an NVML/DCGM clock-event bitmask, by name."""
    return tuple(name for bit, name in THROTTLE_REASONS.items() if mask & bit)


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
    """One reading of one GPU; a field is None where the device does not report it.

    `throttle` names the clock-event reasons in force that cost speed (idle and application
    clocks are left out); `ecc_uncorrected` counts volatile uncorrected ECC errors;
    `temperature_limit_c` is the slowdown threshold.
    """

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
    throttle: tuple[str, ...] = ()
    ecc_uncorrected: int | None = None
    temperature_limit_c: int | None = None

    @property
    def key(self) -> GpuKey:
        return self.host, self.index

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuSample:
        procs = tuple(GpuProcess.from_dict(p) for p in data.get("processes", ()))
        return cls(**{**data, "processes": procs, "throttle": tuple(data.get("throttle", ()))})


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model an engine holds in memory (Ollama's /api/ps): its size and how much of it is on the GPU."""

    name: str
    size_bytes: int
    vram_bytes: int
    context_length: int | None = None

    @property
    def gpu_share(self) -> float | None:
        return self.vram_bytes / self.size_bytes if self.size_bytes else None


@dataclass(frozen=True, slots=True)
class EngineMetrics:
    """Serving-engine figures from one endpoint (or why it failed).

    `cache_hit_rate` is the prefix-cache hit rate (0–1) over the last scrape interval where the
    engine gives counters, else as the engine reports it; `context_used` / `context_limit` are
    the tokens in the busiest request's context and the window it may fill, where the engine says.
    """

    url: str
    kv_cache_usage: float | None = None
    running: int | None = None
    waiting: int | None = None
    gen_tokens_per_s: float | None = None
    raw: dict[str, float] = field(default_factory=dict)
    engine: str | None = None
    error: str | None = None
    cache_hit_rate: float | None = None
    preemptions: int | None = None
    context_used: int | None = None
    context_limit: int | None = None
    models: tuple[LoadedModel, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineMetrics:
        models = tuple(LoadedModel(**m) for m in data.get("models", ()))
        return cls(**{**data, "models": models})


class HostSource(StrEnum):
    """Where a host's GPU readings come from."""

    NVML = "nvml"
    DCGM = "dcgm-exporter"
    NVITOP = "nvitop-exporter"


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One host of the fleet: where its readings come from, and whether the last try worked.

    `last_seen` is the wall time of the last good reading (None: never); the age shown is the
    snapshot's time minus it.
    """

    name: str
    source: HostSource
    url: str | None = None
    error: str | None = None
    last_seen: float | None = None
    gpus: int = 0

    @property
    def reachable(self) -> bool:
        return self.error is None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostStatus:
        return cls(**{**data, "source": HostSource(data["source"])})


class AlertKind(StrEnum):
    """What an alert is about; the rules live in vt_tui.gpu.alerts."""

    VRAM = "vram"
    TEMPERATURE = "temperature"
    POWER = "power"
    THROTTLE = "throttle"
    ECC = "ecc"
    HOST = "host"


@dataclass(frozen=True, slots=True)
class Alert:
    """A condition that has lasted long enough to tell the user; `since` is when it began."""

    kind: AlertKind
    host: str | None
    gpu: int | None
    message: str
    since: float

    @property
    def key(self) -> tuple[AlertKind, str | None, int | None]:
        return self.kind, self.host, self.gpu

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(**{**data, "kind": AlertKind(data["kind"])})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything sampled at one instant; `error` says why GPUs are missing."""

    time: float
    gpus: tuple[GpuSample, ...] = ()
    engines: tuple[EngineMetrics, ...] = ()
    error: str | None = None
    hosts: tuple[HostStatus, ...] = ()
    alerts: tuple[Alert, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            time=data["time"],
            gpus=tuple(GpuSample.from_dict(g) for g in data.get("gpus", ())),
            engines=tuple(EngineMetrics.from_dict(e) for e in data.get("engines", ())),
            error=data.get("error"),
            hosts=tuple(HostStatus.from_dict(h) for h in data.get("hosts", ())),
            alerts=tuple(Alert.from_dict(a) for a in data.get("alerts", ())),
        )


class PrometheusReading(NamedTuple):
    """What one round of scrapes found: remote GPUs, engines, and one status per exporter."""

    gpus: tuple[GpuSample, ...] = ()
    engines: tuple[EngineMetrics, ...] = ()
    hosts: tuple[HostStatus, ...] = ()
