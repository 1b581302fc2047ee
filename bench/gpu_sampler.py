"""Cost of GPU sampling: µs per sample and CPU % of one core at 2 Hz.

    python bench/gpu_sampler.py [--seconds 10] [--gpus 8]

With a working NVML it times the real GPUs, and again with GPU 0 read --gpus times over to
cost a box of that many GPUs; the baseline is a bare nvmlDeviceGetMemoryInfo loop in this
process. Without NVML it replays tests/fixtures/nvml-h100-alloc.jsonl widened to --gpus GPUs,
which measures the Python side alone (snapshot building, history, subscribers).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pynvml

from vt_tui.gpu.nvml import NvmlSource
from vt_tui.gpu.replay import ReplaySource, load_snapshots
from vt_tui.gpu.sampler import GpuSampler, GpuSource

FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/nvml-h100-alloc.jsonl"
HZ = 2.0


def per_call_us(call: Callable[[], object], seconds: float = 1.0) -> float:
    """Mean wall time of `call` in µs, over about `seconds`."""
    call()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        n += 1
    return elapsed / n * 1e6


def cpu_percent(make_source: Callable[[], GpuSource], seconds: float) -> float:
    """CPU time of this whole process while a sampler runs at 2 Hz, as % of one core."""
    sampler = GpuSampler(make_source(), hz=HZ)
    sampler.subscribe(lambda snapshot: None)
    cpu, wall = time.process_time(), time.perf_counter()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    return (time.process_time() - cpu) / (time.perf_counter() - wall) * 100


def widened_nvml(gpus: int) -> NvmlSource:
    """Bench only: an NvmlSource that reads GPU 0 `gpus` times, to cost a bigger box."""
    source = NvmlSource()
    first = source._devices[0]
    source._devices = [(i, *first[1:]) for i in range(gpus)]
    return source


def widened_replay(gpus: int) -> ReplaySource:
    """The fixture with GPU 0 copied to `gpus` GPUs."""
    frames = [
        dataclasses.replace(s, gpus=tuple(dataclasses.replace(s.gpus[0], index=i) for i in range(gpus)))
        for s in load_snapshots(FIXTURE)
    ]
    return ReplaySource(frames)


def row(what: str, gpus: int, us: float, cpu: float | None = None) -> str:
    cpu_text = f"{cpu:.3f}" if cpu is not None else f"({us * HZ / 1e4:.3f})"
    return f"| {what} | {gpus} | {us:.1f} | {cpu_text} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--gpus", type=int, default=8)
    args = parser.parse_args()
    lines = ["| what | GPUs | µs/sample | CPU % of a core at 2 Hz |", "| --- | --- | --- | --- |"]
    probe = NvmlSource()
    if probe.status is None:
        handles = [h for _, h, *_ in probe._devices]
        bare = per_call_us(lambda: [pynvml.nvmlDeviceGetMemoryInfo(h) for h in handles])
        lines.append(row("baseline: bare nvmlDeviceGetMemoryInfo loop", len(handles), bare))
        lines.append(row("NvmlSource.read()", len(handles), per_call_us(probe.read)))
        lines.append(row("GpuSampler.sample()", len(handles), per_call_us(GpuSampler(probe).sample)))
        wide = widened_nvml(args.gpus)
        handle = wide._devices[0][1]
        lines.append(
            row(
                "baseline: bare nvmlDeviceGetMemoryInfo loop",
                args.gpus,
                per_call_us(lambda: [pynvml.nvmlDeviceGetMemoryInfo(handle) for _ in range(args.gpus)]),
            )
        )
        lines.append(row("GpuSampler.sample()", args.gpus, per_call_us(GpuSampler(wide).sample)))
        probe.close()
        sampled_us = per_call_us(GpuSampler(widened_nvml(args.gpus)).sample)
        cpu = cpu_percent(lambda: widened_nvml(args.gpus), args.seconds)
        lines.append(row("GpuSampler thread, measured", args.gpus, sampled_us, cpu))
        print(f"source: NVML, {pynvml.nvmlDeviceGetName(handle)}, driver {pynvml.nvmlSystemGetDriverVersion()}")
    else:
        replay = widened_replay(args.gpus)
        lines.append(row("ReplaySource.read()", args.gpus, per_call_us(replay.read)))
        sampled_us = per_call_us(GpuSampler(replay).sample)
        cpu = cpu_percent(lambda: widened_replay(args.gpus), args.seconds)
        lines.append(row("GpuSampler thread (replay), measured", args.gpus, sampled_us, cpu))
        print(f"source: replay of {FIXTURE.name} ({probe.status})")
    print("\n".join(lines))
    print("CPU % in parentheses: µs/sample × 2 Hz; the last row is the process's CPU time over wall time.")


if __name__ == "__main__":
    main()
