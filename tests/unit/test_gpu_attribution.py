"""Which GPUs a turn is counted on: real processes (a server with a worker child, a listener on a port), and
recorded readings in a sampler's history."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

import psutil
import pytest

from tests.support.gpu_fleet import two_exporters
from tests.support.ports import closed_port
from vt_tui.gpu.attribution import ChosenBy, GpuMeter, gpu_label
from vt_tui.gpu.models import GIB, GpuProcess, GpuSample, HostSource, HostStatus, Snapshot
from vt_tui.gpu.replay import ReplaySource
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.settings import SettingsError, load

# A server that forks a worker, like vLLM's API process and its engine core: the worker holds the GPU.
FORKING_SERVER = (
    "import subprocess, sys, time; "
    "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print(w.pid, flush=True); time.sleep(60)"
)


def gpu(index: int, *pids: int, power: float = 100.0, used_gib: float = 1.0, cmd: str = "python x") -> GpuSample:
    procs = tuple(GpuProcess(pid, "python", cmd, GIB, "serve" in cmd) for pid in pids)
    return GpuSample(index, "H200", None, int(used_gib * GIB), 140 * GIB, 10, 0, 40, power, 700.0, 1980, procs)


@pytest.fixture
def forking_server() -> Iterator[tuple[int, int]]:
    server = subprocess.Popen([sys.executable, "-c", FORKING_SERVER], stdout=subprocess.PIPE, text=True)
    worker = int(server.stdout.readline())
    yield server.pid, worker
    for pid in (worker, server.pid):
        psutil.Process(pid).kill()
    server.wait()


def test_labels() -> None:
    assert [gpu_label(k) for k in ([], [(None, 0)], [(None, 1), (None, 0)], [("b", 3)])] == [
        "all GPUs",
        "GPU 0",
        "GPUs 0,1",
        "GPU 3 @b",
    ]
    assert gpu_label([("a", 0), ("b", 1)]) == "GPUs a:0, b:1"


def test_the_server_pid_and_its_children(forking_server: tuple[int, int]) -> None:
    server, worker = forking_server
    readings = [Snapshot(0.0, (gpu(0, 999_999), gpu(1, worker)))]
    choice = GpuMeter(server_pid=server).choose(readings)
    assert (choice.gpus, choice.chosen_by, choice.label) == (((None, 1),), ChosenBy.SERVER_PID, "GPU 1")


def test_the_process_listening_on_the_base_url_port() -> None:
    port = closed_port()
    code = f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"
    listener = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            if any(c.laddr.port == port for c in psutil.Process(listener.pid).net_connections()):
                break
            time.sleep(0.05)
        readings = [Snapshot(0.0, (gpu(0, 999_999), gpu(1, listener.pid)))]
        choice = GpuMeter(base_url=f"http://127.0.0.1:{port}/v1").choose(readings)
    finally:
        listener.kill()
        listener.wait()
    assert (choice.label, choice.chosen_by) == ("GPU 1", ChosenBy.PORT)


def test_an_engine_command_line_naming_the_port() -> None:
    readings = [
        Snapshot(
            0.0, (gpu(0, 11, cmd="vllm serve Qwen/Qwen3-8B --port 8000"), gpu(1, 12, cmd="vllm serve m --port 9000"))
        )
    ]
    port = closed_port()  # nothing listens there: the command line is the clue
    readings = [replace(readings[0], gpus=tuple(
        replace(g, processes=tuple(replace(p, cmdline=p.cmdline.replace("8000", str(port))) for p in g.processes))
        for g in readings[0].gpus))]  # fmt: skip
    choice = GpuMeter(base_url=f"http://localhost:{port}/v1").choose(readings)
    assert (choice.label, choice.chosen_by) == ("GPU 0", ChosenBy.COMMAND)
    both = GpuMeter(base_url="http://127.0.0.1/v1").choose(readings)  # no port to tell them apart
    assert (both.label, both.chosen_by) == ("GPUs 0,1", ChosenBy.COMMAND)


def test_a_remote_engine_through_its_exporter() -> None:
    fleet = two_exporters()  # gpubox (dcgm; llama-server on GPU 0), gpunode-b (nvitop: vLLM on 0, training on 1)
    nvitop = GpuMeter(base_url="http://gpunode-b:8000/v1").choose([fleet])
    assert (nvitop.label, nvitop.chosen_by) == ("GPU 0 @gpunode-b", ChosenBy.EXPORTER)
    by_address = replace(fleet, hosts=(replace(fleet.hosts[0], url="http://10.0.0.5:9400/metrics"), fleet.hosts[1]))
    dcgm = GpuMeter(base_url="http://10.0.0.5:8000/v1").choose([by_address])  # the exporter's URL names the host
    assert (dcgm.label, dcgm.chosen_by) == ("GPU 0 @gpubox", ChosenBy.EXPORTER)
    no_processes = replace(by_address, gpus=tuple(replace(g, processes=()) for g in by_address.gpus))
    whole_host = GpuMeter(base_url="http://10.0.0.5:8000/v1").choose([no_processes])
    assert (whole_host.label, whole_host.chosen_by) == ("GPUs 0,1 @gpubox", ChosenBy.EXPORTER)
    assert GpuMeter(base_url="http://elsewhere:8000/v1").choose([fleet]).chosen_by is ChosenBy.NOT_FOUND


def test_the_setting_wins_and_is_checked() -> None:
    choice = GpuMeter(gpus=("1", "gpubox:0"), base_url="http://127.0.0.1:1/v1").choose([])
    assert (choice.gpus, choice.chosen_by) == (((None, 1), ("gpubox", 0)), ChosenBy.SETTING)
    with pytest.raises(SettingsError, match="gpus: 'gpu0' is not a GPU index or HOST:INDEX"):
        load(cli={"gpus": ("gpu0",)}, environ={}, config_path=None)


def test_a_turn_counts_only_the_servers_gpu(forking_server: tuple[int, int]) -> None:
    """The H200 report: GPU 0 serving at ~150 W, another user's job on GPU 1 at ~600 W. The turn is GPU 0's."""
    server, worker = forking_server
    frames = [
        Snapshot(float(t), (gpu(0, worker, power=150.0, used_gib=4), gpu(1, 777_777, power=600.0, used_gib=7)))
        for t in range(6)
    ]
    sampler = GpuSampler(ReplaySource(frames))
    for frame in frames:
        sampler.publish(frame)
    meter = GpuMeter(server_pid=server)
    assert meter(1.0, 4.0) is None  # no sampler yet: nothing measured, rather than a guess
    meter.attach(sampler)
    cost = meter(1.0, 4.0)
    assert (cost.energy_j, cost.peak_vram_bytes, cost.gpus, cost.chosen_by) == (
        450.0,
        4 * GIB,
        "GPU 0",
        "server process",
    )
    lost = GpuMeter(base_url="http://127.0.0.1:1/v1")
    lost.attach(sampler)
    everything = lost(1.0, 4.0)
    assert (everything.energy_j, everything.gpus, everything.chosen_by) == (2250.0, "all GPUs", "server not found")


def test_all_gpus_of_a_local_server_means_this_machines() -> None:
    here = Snapshot(0.0, (gpu(0, 5, power=100.0),), hosts=(HostStatus("me", HostSource.NVML),))
    with_fleet = replace(here, gpus=(*here.gpus, replace(gpu(0, 6, power=500.0), host="far")))
    frames = [replace(with_fleet, time=float(t)) for t in range(3)]
    sampler = GpuSampler(ReplaySource(frames))
    for frame in frames:
        sampler.publish(frame)
    meter = GpuMeter(sampler, base_url="http://127.0.0.1:1/v1")
    assert (meter(0.0, 2.0).energy_j, meter(0.0, 2.0).gpus) == (200.0, "all GPUs")
