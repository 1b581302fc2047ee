"""NvmlSource: unavailable status here, a faked NVML for the edge cases, the real thing under `gpu`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from types import SimpleNamespace

import psutil
import pynvml
import pytest

from vt_tui.gpu.models import GIB, MIB
from vt_tui.gpu.nvml import NvmlSource, nvidia_smi
from vt_tui.gpu.programs import SERVER_CMDLINE


def _init_error() -> pynvml.NVMLError | None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return error
    pynvml.nvmlShutdown()
    return None


INIT_ERROR = _init_error()
needs_gpu = pytest.mark.skipif(INIT_ERROR is not None, reason=f"NVML unusable: {INIT_ERROR}")


@pytest.mark.skipif(not isinstance(INIT_ERROR, pynvml.NVMLError_LibraryNotFound), reason="an NVML library is present")
def test_missing_library_gives_a_clear_status() -> None:
    source = NvmlSource()
    assert source.status == "No NVIDIA driver found (NVML library missing)"
    assert source.read() == ()
    source.close()


def _raise(error: type[pynvml.NVMLError]):
    def call(*args: object) -> None:
        raise error()

    return call


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """One fake GPU; the returned dict sets what its process getters report."""
    procs: dict[str, object] = {"compute": [], "graphics": []}

    def memory(handle: object, version: int | None = None) -> SimpleNamespace:
        if version:
            raise pynvml.NVMLError_FunctionNotFound()
        return SimpleNamespace(used=3 * GIB, total=24 * GIB)

    fakes = {
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlDeviceGetCount": lambda: 1,
        "nvmlDeviceGetHandleByIndex": lambda i: f"h{i}",
        "nvmlDeviceGetName": lambda h: "NVIDIA GeForce RTX 4090",
        "nvmlDeviceGetUUID": _raise(pynvml.NVMLError_NotSupported),
        "nvmlDeviceGetMemoryInfo": memory,
        "nvmlDeviceGetUtilizationRates": _raise(pynvml.NVMLError_NotSupported),
        "nvmlDeviceGetTemperature": lambda h, sensor: 51,
        "nvmlDeviceGetPowerUsage": lambda h: 123_456,
        "nvmlDeviceGetEnforcedPowerLimit": _raise(pynvml.NVMLError_NoPermission),
        "nvmlDeviceGetClockInfo": lambda h, clock: 2520,
        "nvmlDeviceGetComputeRunningProcesses": lambda h: procs["compute"],
        "nvmlDeviceGetGraphicsRunningProcesses": lambda h: procs["graphics"],
        "nvmlDeviceGetTemperatureThreshold": lambda h, kind: 87,
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: 0x01 | 0x04 | 0x40,  # idle, power cap, thermal (hw)
        "nvmlDeviceGetTotalEccErrors": _raise(pynvml.NVMLError_NotSupported),
    }
    for name, fake in fakes.items():
        monkeypatch.setattr(pynvml, name, fake)
    return procs


def _proc(pid: int, mib: int | None) -> SimpleNamespace:
    return SimpleNamespace(pid=pid, usedGpuMemory=None if mib is None else mib * MIB)


def test_unsupported_readings_are_none_and_v1_memory_is_the_fallback(fake_nvml: dict) -> None:
    gpu = NvmlSource().read()[0]
    assert (gpu.index, gpu.name, gpu.uuid) == (0, "NVIDIA GeForce RTX 4090", None)
    assert (gpu.mem_used, gpu.mem_total) == (3 * GIB, 24 * GIB)
    assert (gpu.util_gpu, gpu.util_mem, gpu.power_limit_w) == (None, None, None)
    assert (gpu.temperature_c, gpu.power_w, gpu.sm_clock_mhz) == (51, 123.456, 2520)
    assert (gpu.temperature_limit_c, gpu.throttle, gpu.ecc_uncorrected) == (87, ("power cap", "thermal (hw)"), None)


def test_getters_an_old_driver_lacks_read_as_none(fake_nvml: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("nvmlDeviceGetTemperatureThreshold", "nvmlDeviceGetCurrentClocksEventReasons"):
        monkeypatch.setattr(pynvml, name, _raise(pynvml.NVMLError_FunctionNotFound))
    gpu = NvmlSource().read()[0]
    assert (gpu.temperature_limit_c, gpu.throttle, gpu.mem_used) == (None, (), 3 * GIB)


def test_processes_merge_by_pid_and_name_through_psutil(fake_nvml: dict) -> None:
    me, outside = os.getpid(), 4_000_000  # above Linux's pid_max: never in our namespace
    fake_nvml["compute"] = [_proc(me, 100), _proc(outside, 50)]
    fake_nvml["graphics"] = [_proc(me, 100)]
    source = NvmlSource(server_pids={me})
    procs = source.read()[0].processes
    assert [(p.pid, p.used_bytes, p.is_server) for p in procs] == [
        (me, 100 * MIB, True),
        (outside, 50 * MIB, False),
    ]
    assert procs[0].name == psutil.Process(me).name() and procs[0].cmdline  # python, or pytest as a script
    assert procs[1].name == f"pid {outside}"


def test_a_process_that_exits_is_skipped(fake_nvml: dict) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    fake_nvml["compute"] = [_proc(child.pid, None)]
    source = NvmlSource()
    assert [(p.pid, p.used_bytes) for p in source.read()[0].processes] == [(child.pid, None)]
    child.kill()
    child.wait()
    assert source.read()[0].processes == ()


@pytest.mark.parametrize(
    "cmdline",
    [
        "/usr/bin/python3 -m vllm.entrypoints.openai.api_server --model x",
        "vllm serve Qwen/Qwen3-8B",
        "./llama-server -m model.gguf --metrics",
        "python -m llama_cpp.server --model m.gguf",
        "lmdeploy serve api_server internlm/internlm2-chat-7b",
        "llamafactory-cli api examples/inference/llama3.yaml",
        "/usr/local/bin/ollama runner --model /root/.ollama/models/blobs/sha256-x",
        "python3 -m sglang.launch_server --model-path m",
        "text-generation-launcher --model-id m",
        "transformers serve --port 8000",
    ],
)
def test_inference_servers_are_recognised(cmdline: str) -> None:
    assert SERVER_CMDLINE.search(cmdline)


@pytest.mark.parametrize("cmdline", ["python train.py", "pytest tests/test_vllm_client.py", "nvtop"])
def test_other_processes_are_not_servers(cmdline: str) -> None:
    assert not SERVER_CMDLINE.search(cmdline)


def _close(ours: float, smi_mib: float) -> bool:
    """Within 1% of nvidia-smi (which rounds to whole MiB)."""
    return abs(ours / MIB - smi_mib) <= max(0.01 * smi_mib, 1.0)


@pytest.mark.gpu
@needs_gpu
def test_v2_memory_matches_nvidia_smi() -> None:
    source = NvmlSource()
    gpus = source.read()
    rows = nvidia_smi("memory.used,memory.total")
    source.close()
    assert len(gpus) == len(rows)
    for gpu, (used, total) in zip(gpus, rows, strict=True):
        assert _close(gpu.mem_used, float(used)), (gpu.mem_used / MIB, used)
        assert _close(gpu.mem_total, float(total)), (gpu.mem_total / MIB, total)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_an_allocating_process_is_listed_with_its_memory() -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, torch; x = torch.empty(1 << 30, dtype=torch.uint8, device='cuda:0');"
            "torch.cuda.synchronize(); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        source = NvmlSource()
        procs = {p.pid: p for p in source.read()[0].processes}
        smi_apps = {int(pid): float(mib) for pid, mib in nvidia_smi("pid,used_memory", "compute-apps")}
        source.close()
        assert holder.pid in procs, procs
        assert procs[holder.pid].used_bytes >= GIB
        assert _close(procs[holder.pid].used_bytes, smi_apps[holder.pid])
        assert "python" in procs[holder.pid].name
    finally:
        holder.communicate("")
