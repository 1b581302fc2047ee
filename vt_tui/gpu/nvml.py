"""Read NVIDIA GPUs through NVML (blocking C calls: run off the UI thread)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from typing import TypeVar

import psutil
import pynvml

from vt_tui.gpu.models import GpuProcess, GpuSample, throttle_names
from vt_tui.gpu.programs import is_server

T = TypeVar("T")


def status_for(error: pynvml.NVMLError) -> str:
    """A sentence for the user saying why NVML cannot be used."""
    if isinstance(error, pynvml.NVMLError_LibraryNotFound):
        return "No NVIDIA driver found (NVML library missing)"
    if isinstance(error, pynvml.NVMLError_DriverNotLoaded):
        return "No NVIDIA driver loaded"
    if isinstance(error, pynvml.NVMLError_NoPermission):
        return "NVML: permission denied"
    return f"NVML: {error}"


def _optional(call: Callable[..., T], *args: object) -> T | None:
    """Call an NVML getter; None where the device does not support it or we may not read it."""
    try:
        return call(*args)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_NoPermission):
        return None


def _if_available(call: Callable[..., T], *args: object) -> T | None:
    """For getters that older drivers lack: None there too (readings added after the first version)."""
    try:
        return _optional(call, *args)
    except pynvml.NVMLError_FunctionNotFound:
        return None


def _clock_event_reasons(handle: object) -> int:
    """The clock-event ("throttle") reasons bitmask, under NVML's current name or the older one."""
    call = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    return (call or pynvml.nvmlDeviceGetCurrentClocksThrottleReasons)(handle)


def _alive(pid: int) -> bool:
    """Signal-0 probe (about 1 µs; psutil's pid_exists and is_running read /proc, 20-45 µs)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class _ProcessNames:
    """psutil look-ups cached per pid for as long as NVML keeps reporting the pid."""

    def __init__(self, server_pids: set[int]) -> None:
        self.server_pids = server_pids
        self._cache: dict[int, tuple[bool, str, str, bool]] = {}  # pid -> (seen, name, cmdline, server?)

    def describe(self, pid: int, used: int | None) -> GpuProcess | None:
        """The process, `pid <n>` if outside our PID namespace, None if it has exited."""
        entry = self._cache.get(pid)
        if entry is None:
            entry = self._cache[pid] = self._look_up(pid)
        seen, name, cmdline, looks_like_server = entry
        if seen and not _alive(pid):
            del self._cache[pid]
            return None
        return GpuProcess(pid, name, cmdline, used, looks_like_server or pid in self.server_pids)

    def forget_except(self, pids: Iterable[int]) -> None:
        keep = set(pids)
        for pid in self._cache.keys() - keep:
            del self._cache[pid]

    def _look_up(self, pid: int) -> tuple[bool, str, str, bool]:
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                name = proc.name()
                try:
                    cmdline = " ".join(proc.cmdline())
                except psutil.AccessDenied:
                    cmdline = ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False, f"pid {pid}", "", False
        return True, name, cmdline, is_server(name, cmdline)


class NvmlSource:
    """All local NVIDIA GPUs; `status` is None when readable, else why not."""

    def __init__(self, server_pids: Iterable[int] = ()) -> None:
        self._names = _ProcessNames(set(server_pids))
        self._devices: list[tuple[int, object, str, str | None, int | None]] = []
        self._memory_v2 = True
        self._initialised = False
        self.status: str | None = None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            self.status = status_for(error)
            return
        self._initialised = True
        try:
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                uuid = _optional(pynvml.nvmlDeviceGetUUID, handle)
                slowdown = _if_available(
                    pynvml.nvmlDeviceGetTemperatureThreshold, handle, pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
                )
                self._devices.append((index, handle, pynvml.nvmlDeviceGetName(handle), uuid, slowdown))
        except pynvml.NVMLError as error:
            self.status = status_for(error)
        if not self._devices and self.status is None:
            self.status = "No GPUs"

    @property
    def server_pids(self) -> set[int]:
        """PIDs always marked as the inference server (mutable: add the embedded server)."""
        return self._names.server_pids

    def read(self) -> tuple[GpuSample, ...]:
        """One sample per GPU; raises NVMLError if a GPU fails outright (e.g. it was lost)."""
        samples = tuple(self._read_device(*device) for device in self._devices)
        self._names.forget_except(p.pid for s in samples for p in s.processes)
        return samples

    def close(self) -> None:
        """Release NVML (once); later reads return no GPUs."""
        self._devices.clear()
        if self._initialised:
            self._initialised = False
            pynvml.nvmlShutdown()

    def _read_device(
        self, index: int, handle: object, name: str, uuid: str | None, slowdown_c: int | None
    ) -> GpuSample:
        used, total = self._memory(handle)
        reasons = _if_available(_clock_event_reasons, handle)
        rates = _optional(pynvml.nvmlDeviceGetUtilizationRates, handle)
        power_mw = _optional(pynvml.nvmlDeviceGetPowerUsage, handle)
        limit_mw = _optional(pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        return GpuSample(
            index=index,
            name=name,
            uuid=uuid,
            mem_used=used,
            mem_total=total,
            util_gpu=rates.gpu if rates else None,
            util_mem=rates.memory if rates else None,
            temperature_c=_optional(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU),
            power_w=power_mw / 1000 if power_mw is not None else None,
            power_limit_w=limit_mw / 1000 if limit_mw is not None else None,
            sm_clock_mhz=_optional(pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
            processes=self._processes(handle),
            throttle=throttle_names(reasons or 0),
            ecc_uncorrected=_if_available(
                pynvml.nvmlDeviceGetTotalEccErrors,
                handle,
                pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                pynvml.NVML_VOLATILE_ECC,
            ),
            temperature_limit_c=slowdown_c,
        )

    def _memory(self, handle: object) -> tuple[int | None, int | None]:
        """Used/total bytes; v2 excludes driver-reserved memory, as nvidia-smi does."""
        info = None
        if self._memory_v2:
            try:
                info = _optional(pynvml.nvmlDeviceGetMemoryInfo, handle, pynvml.nvmlMemory_v2)
            except pynvml.NVMLError_FunctionNotFound:  # driver older than the v2 call
                self._memory_v2 = False
        if not self._memory_v2:
            info = _optional(pynvml.nvmlDeviceGetMemoryInfo, handle)
        return (info.used, info.total) if info else (None, None)

    def _processes(self, handle: object) -> tuple[GpuProcess, ...]:
        """Compute and graphics processes merged by pid (a C+G process is listed twice)."""
        used: dict[int, int | None] = {}
        for getter in (
            pynvml.nvmlDeviceGetComputeRunningProcesses,
            pynvml.nvmlDeviceGetGraphicsRunningProcesses,
        ):
            for info in _optional(getter, handle) or ():
                old, new = used.get(info.pid), info.usedGpuMemory
                used[info.pid] = new if old is None else max(old, new or 0)
        procs = (self._names.describe(pid, mem) for pid, mem in used.items())
        return tuple(sorted((p for p in procs if p), key=lambda p: -(p.used_bytes or 0)))


def nvidia_smi(query: str, kind: str = "gpu") -> list[list[str]]:
    """``nvidia-smi --query-<kind>=<query>`` as rows of fields: the reference NVML readings are checked against."""
    out = subprocess.run(
        ["nvidia-smi", f"--query-{kind}={query}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [[field.strip() for field in line.split(",")] for line in out.strip().splitlines()]
