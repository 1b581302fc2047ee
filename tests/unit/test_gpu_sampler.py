"""GpuSampler history and per-turn figures, ReplaySource, and the recorded H100 fixture."""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import vt_tui.gpu
from tests.support.metrics_server import MetricsServer, fixture
from vt_tui.gpu.alerts import AlertState
from vt_tui.gpu.factory import make_sampler
from vt_tui.gpu.models import GIB, AlertKind, EngineMetrics, GpuSample, HostSource, HostStatus, Snapshot
from vt_tui.gpu.prometheus import PrometheusSource
from vt_tui.gpu.replay import ReplaySource, SnapshotRecorder, load_snapshots
from vt_tui.gpu.sampler import GpuSampler, integrate

FIXTURES = Path(__file__).parents[1] / "fixtures"
H100_ALLOC = FIXTURES / "nvml-h100-alloc.jsonl"


def gpu(index: int, power_w: float | None = 100.0, mem_used: int = GIB) -> GpuSample:
    return GpuSample(index, "GPU", None, mem_used, 24 * GIB, 0, 0, 40, power_w, 300.0, 1500)


def sampler_with(*snapshots: Snapshot) -> GpuSampler:
    sampler = GpuSampler(ReplaySource(snapshots))
    for snapshot in snapshots:
        sampler.publish(snapshot)
    return sampler


def test_integrate_is_exact_on_a_piecewise_linear_curve() -> None:
    points = [(0.0, 100.0), (1.0, 200.0), (2.0, 200.0), (3.0, 100.0)]
    assert integrate(points, 0.0, 3.0) == 500.0
    assert integrate(points, 0.5, 2.5) == 375.0
    assert integrate(points, -5.0, 0.0) == 0.0


def test_energy_sums_gpus_and_skips_missing_readings() -> None:
    power = [(100.0, 50.0), (200.0, 50.0), (200.0, None), (100.0, 50.0)]
    sampler = sampler_with(*(Snapshot(float(t), (gpu(0, p0), gpu(1, p1))) for t, (p0, p1) in enumerate(power)))
    assert sampler.energy_joules(0.0, 3.0) == 500.0 + 150.0
    assert sampler.energy_joules(0.5, 2.5) == 375.0 + 100.0
    assert sampler.energy_joules(0.5, 2.5, gpus=[(None, 1)]) == 100.0
    assert sampler.energy_joules(10.0, 20.0) == 0.0


def test_peak_vram_counts_the_sample_in_force_at_the_start() -> None:
    used = [1, 5, 3, 9]
    sampler = sampler_with(*(Snapshot(float(t), (gpu(0, mem_used=u * GIB), gpu(1))) for t, u in enumerate(used)))
    assert sampler.peak_vram(0.0, 3.0) == 10 * GIB
    assert sampler.peak_vram(1.2, 1.4) == 6 * GIB
    assert sampler.peak_vram(1.2, 2.5, gpus=[(None, 0)]) == 5 * GIB
    assert GpuSampler(ReplaySource([Snapshot(0.0)])).peak_vram(0.0, 1.0) is None


def test_history_is_bounded() -> None:
    sampler = GpuSampler(ReplaySource([Snapshot(0.0)]), hz=2.0, history_s=60.0)
    for t in range(500):
        sampler.publish(Snapshot(float(t)))
    history = sampler.history()
    assert len(history) == 121 and history[-1].time == 499.0


def test_recorded_allocation_is_visible_on_replay() -> None:
    snapshots = load_snapshots(H100_ALLOC)
    sampler = sampler_with(*snapshots)
    start, end = snapshots[0].time, snapshots[-1].time
    baseline = snapshots[0].gpus[0].mem_used
    assert sampler.peak_vram(start, end) - baseline >= 8 * GIB
    loaded = [s for s in snapshots if s.gpus[0].processes]
    holder = loaded[len(loaded) // 2].gpus[0].processes[0]
    assert holder.name == "python3" and holder.used_bytes >= 8 * GIB
    assert max(s.gpus[0].util_gpu for s in snapshots) == 100
    assert max(s.gpus[0].power_w for s in snapshots) > 5 * snapshots[0].gpus[0].power_w
    assert sampler.energy_joules(start, end) > 0


def test_snapshots_round_trip_through_json() -> None:
    for snapshot in load_snapshots(H100_ALLOC):
        assert Snapshot.from_dict(snapshot.to_dict()) == snapshot
    engine = EngineMetrics("http://127.0.0.1:8000/metrics", 0.5, 1, 0, 12.5, {"vllm:x": 1.0}, "vLLM")
    snapshot = Snapshot(1.0, engines=(engine,), error="NVML: permission denied")
    assert Snapshot.from_dict(snapshot.to_dict()) == snapshot


def test_replay_follows_the_recorded_pace_and_loops() -> None:
    frames = [Snapshot(100.0 + t, (gpu(0, power_w=float(t)),)) for t in range(4)]
    now = [0.0]
    source = ReplaySource(frames, start_at=1.5, clock=lambda: now[0])
    assert source.read()[0].power_w == 1.0
    now[0] = 1.0
    assert source.read()[0].power_w == 2.0
    now[0] = 2.6  # 4.1 s into a 4 s loop
    assert source.read()[0].power_w == 0.0


def test_core_side_never_imports_textual_or_rich() -> None:
    for path in Path(vt_tui.gpu.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.split(".")[0] in {"textual", "rich"} for n in names), (path, names)
    code = "import sys, vt_tui.gpu.sampler, vt_tui.gpu.nvml; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)  # (httpx itself pulls in rich for its CLI)


def test_thread_publishes_to_subscribers_until_stopped() -> None:
    sampler = GpuSampler(ReplaySource(H100_ALLOC), hz=50.0)
    got: list[Snapshot] = []
    enough = threading.Event()

    def collect(snapshot: Snapshot) -> None:
        got.append(snapshot)
        if len(got) >= 3:
            enough.set()

    sampler.subscribe(collect)
    sampler.subscribe(lambda snapshot: 1 / 0)  # a failing subscriber must not stop the others
    sampler.start()
    assert enough.wait(5.0)
    sampler.stop()
    count = len(got)
    assert got[0].gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert not sampler._thread.is_alive() and len(got) == count


def test_a_remote_exporter_stands_in_when_nvml_sees_nothing() -> None:
    no_gpus = ReplaySource([Snapshot(0.0, error="No NVIDIA driver found (NVML library missing)")])
    with MetricsServer({"/metrics": fixture("prom-dcgm.txt")}) as dcgm:
        sampler = GpuSampler(no_gpus, PrometheusSource([f"{dcgm.root}/metrics"]), hz=20.0)
        ready = threading.Event()
        sampler.subscribe(lambda snapshot: snapshot.gpus and ready.set())
        sampler.start()
        assert ready.wait(5.0)
        sampler.stop()
    latest = sampler.history()[-1]
    assert [g.host for g in latest.gpus] == ["gpubox", "gpubox"] and latest.error is None
    assert [(h.name, h.reachable) for h in latest.hosts] == [("gpubox", True)]  # no driver here: not a host


def test_a_failing_source_becomes_an_error_snapshot() -> None:
    class Lost(ReplaySource):
        def read(self) -> tuple[GpuSample, ...]:
            raise RuntimeError("GPU is lost")

    snapshot = GpuSampler(Lost([Snapshot(0.0)])).sample()
    assert snapshot.gpus == () and snapshot.error == "GPU read failed: GPU is lost"


def test_no_gpus_keeps_the_source_status() -> None:
    source = ReplaySource([Snapshot(0.0, error="No NVIDIA driver found (NVML library missing)")])
    assert GpuSampler(source).sample().error == "No NVIDIA driver found (NVML library missing)"


def test_local_and_remote_gpus_side_by_side_with_one_status_per_host() -> None:
    local = gpu(0)
    seen_twice = replace(local, uuid="GPU-same", host="gpubox")  # this machine's own exporter, also scraped
    remote = replace(gpu(1), host="gpubox")
    exporter = HostStatus("gpubox", HostSource.DCGM, "http://gpubox:9400/metrics", None, 99.0, 2)
    frame = Snapshot(0.0, (replace(local, uuid="GPU-same"), seen_twice, remote), hosts=(exporter,))
    replay = ReplaySource([frame], wall_clock=lambda: 50.0)
    sampler = GpuSampler(replay, local_name="here", clock=lambda: 100.0)
    sampler._scraped = asyncio.run(replay.fetch())
    snapshot = sampler.sample()
    assert [g.key for g in snapshot.gpus] == [(None, 0), ("gpubox", 1)]
    assert [(h.name, h.source, h.gpus) for h in snapshot.hosts] == [("here", "nvml", 1), ("gpubox", "dcgm-exporter", 2)]
    assert snapshot.hosts[1].last_seen == 99.0 + 50.0  # moved onto the sampler's clock: recorded 1 s before the frame


def test_snapshots_carry_the_alerts_in_force() -> None:
    full = replace(gpu(0), mem_used=23 * GIB)  # of 24 GiB
    frames = [Snapshot(float(t), (full,)) for t in range(2)]
    now = [0.0]
    sampler = GpuSampler(ReplaySource(frames), clock=lambda: now[0], alerts=AlertState(hold_s=1.0))
    assert sampler.sample().alerts == ()
    now[0] = 1.0
    (alert,) = sampler.sample().alerts
    assert (alert.kind, alert.gpu, alert.since) == (AlertKind.VRAM, 0, 0.0)
    assert sampler.history()[-1].alerts == (alert,)


def test_a_recording_replays_hosts_engines_and_remote_gpus(tmp_path: Path) -> None:
    exporter = HostStatus("gpubox", HostSource.DCGM, "http://gpubox:9400/metrics", None, 9.5, 1)
    engine = EngineMetrics("http://127.0.0.1:8000/metrics", 0.5, 1, 0, 12.5, engine="vLLM", context_limit=40960)
    frame = Snapshot(10.0, (gpu(0), replace(gpu(1), host="gpubox")), (engine,), hosts=(exporter,))
    path = tmp_path / "fleet.jsonl"
    recorder = SnapshotRecorder(path)
    recorder(frame)
    recorder.close()
    recorder(frame)  # after close: nothing, and no error
    (loaded,) = load_snapshots(path)
    assert loaded == frame
    sampler = make_sampler(replay=path)
    snapshot = asyncio.run(sampler.snapshot_once())
    assert [g.key for g in snapshot.gpus] == [(None, 0), ("gpubox", 1)]
    assert snapshot.engines == (engine,) and [h.name for h in snapshot.hosts][1:] == ["gpubox"]


def test_json_snapshot_says_what_is_in_force_now() -> None:
    full = replace(gpu(0), mem_used=23 * GIB)
    snapshot = asyncio.run(GpuSampler(ReplaySource([Snapshot(0.0, (full,))])).snapshot_once())
    assert [a.kind for a in snapshot.alerts] == [AlertKind.VRAM]  # no hold for a one-off reading
    assert json.loads(json.dumps(snapshot.to_dict()))["alerts"][0]["kind"] == "vram"
