"""When a GPU or host needs the user's attention, debounced so that each episode is told once.

A condition must hold for `hold_s` before it becomes an alert (one slow scrape is not a lost
host), and an alert ends only after its condition has been gone for `clear_s` (VRAM hovering at
95 % gives one alert, not one per crossing). While a remote host is unreachable its GPUs' alerts
stand as last seen: the condition is unknown, not gone, and ending them would tell every one again
when the exporter answers. The UI notifies when an alert's key first appears and marks the GPU or
host while it lasts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vt_tui.gpu.models import GIB, Alert, AlertKind, GpuSample, HostSource, Snapshot

VRAM_FULL = 0.95  # share of VRAM in use
POWER_AT_LIMIT = 0.98  # share of the enforced power limit
THERMAL = ("thermal (sw)", "thermal (hw)")
SLOWDOWNS = ("hw slowdown", "power brake")  # clock-event reasons besides thermal and power cap
HOLD_S = 3.0
CLEAR_S = 10.0

AlertKey = tuple[AlertKind, str | None, int | None]


def _gpu_conditions(gpu: GpuSample, host: str | None) -> Iterator[tuple[AlertKind, str]]:
    name = f"GPU {gpu.index}" + (f" @{host}" if host else "")
    if gpu.mem_used is not None and gpu.mem_total and gpu.mem_used / gpu.mem_total >= VRAM_FULL:
        share = gpu.mem_used / gpu.mem_total
        yield AlertKind.VRAM, f"{name} VRAM {share:.0%} full ({gpu.mem_used / GIB:.1f}/{gpu.mem_total / GIB:.1f} GiB)"
    hot_limit = gpu.temperature_limit_c
    if gpu.temperature_c is not None and hot_limit is not None and gpu.temperature_c >= hot_limit:
        yield AlertKind.TEMPERATURE, f"{name} at {gpu.temperature_c} °C (slows down from {hot_limit} °C)"
    elif any(reason in gpu.throttle for reason in THERMAL):
        yield AlertKind.TEMPERATURE, f"{name} slowed down by heat ({_num(gpu.temperature_c)} °C)"
    power, limit = gpu.power_w, gpu.power_limit_w
    if power is not None and limit and power >= POWER_AT_LIMIT * limit:
        yield AlertKind.POWER, f"{name} at its power limit ({power:.0f}/{limit:.0f} W)"
    elif "power cap" in gpu.throttle:
        yield AlertKind.POWER, f"{name} held at its power cap ({_num(power)} W)"
    slowdowns = [reason for reason in SLOWDOWNS if reason in gpu.throttle]
    if slowdowns:
        yield AlertKind.THROTTLE, f"{name} clocks held down: {', '.join(slowdowns)}"
    if gpu.ecc_uncorrected:
        yield AlertKind.ECC, f"{name}: {gpu.ecc_uncorrected} uncorrected ECC errors"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def conditions(snapshot: Snapshot) -> dict[AlertKey, str]:
    """Every condition in force in one snapshot, by key, with its message."""
    found: dict[AlertKey, str] = {}
    fleet = len(snapshot.hosts) > 1 or any(g.host for g in snapshot.gpus)
    here = next((h.name for h in snapshot.hosts if h.source is HostSource.NVML), None) if fleet else None
    for gpu in snapshot.gpus:
        for kind, message in _gpu_conditions(gpu, gpu.host or here):
            found[kind, gpu.host, gpu.index] = message
    for host in snapshot.hosts:
        if host.source is not HostSource.NVML and not host.reachable:
            seen = "never reached"
            if host.last_seen is not None:
                seen = f"last seen {snapshot.time - host.last_seen:.0f} s ago"
            found[AlertKind.HOST, host.name, None] = f"{host.name} unreachable: {host.error} ({seen})"
    return found


@dataclass
class _Episode:
    first: float  # when the condition was first seen
    last: float  # when it was last seen
    message: str
    active: bool = False


class AlertState:
    """Turns each snapshot's conditions into alerts that start late and end late (see the module doc)."""

    def __init__(self, hold_s: float = HOLD_S, clear_s: float = CLEAR_S) -> None:
        self.hold_s = hold_s
        self.clear_s = clear_s
        self._episodes: dict[AlertKey, _Episode] = {}

    def update(self, snapshot: Snapshot) -> tuple[Alert, ...]:
        """The alerts in force after this snapshot, oldest first."""
        now = snapshot.time
        for key, message in conditions(snapshot).items():
            episode = self._episodes.get(key)
            if episode is None:
                episode = self._episodes[key] = _Episode(now, now, message)
            episode.last, episode.message = now, message
            episode.active = episode.active or now - episode.first >= self.hold_s
        lost = {h.name for h in snapshot.hosts if h.source is not HostSource.NVML and not h.reachable}
        for key, episode in list(self._episodes.items()):
            kind, host, _ = key
            if episode.active and kind is not AlertKind.HOST and host in lost:
                continue  # out of sight, not gone (see the module doc)
            gone_for = now - episode.last
            if (episode.active and gone_for >= self.clear_s) or (not episode.active and gone_for > 0):
                del self._episodes[key]
        active = sorted(((k, e) for k, e in self._episodes.items() if e.active), key=lambda item: item[1].first)
        return tuple(Alert(kind, host, gpu, e.message, e.first) for (kind, host, gpu), e in active)
