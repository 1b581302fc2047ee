"""Record NVML snapshots as JSONL while a helper process loads GPU 0, and check them against nvidia-smi.

    python scripts/record_nvml.py tests/fixtures/nvml-h100-alloc.jsonl --seconds 20 --hz 5 --load-gib 8

The helper (this script with --load-worker) imports torch, takes LOAD_GIB on cuda:0, holds it
for two seconds (the recorder compares its reading with nvidia-smi then), runs bf16 matmuls
for --matmul-s seconds inside that memory, frees it and exits two seconds later.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pynvml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vt_tui.gpu.models import GIB, MIB, Snapshot
from vt_tui.gpu.nvml import NvmlSource, nvidia_smi
from vt_tui.gpu.replay import write_snapshot


def load_worker(gib: float, matmul_s: float) -> None:
    """Hold `gib` GiB on cuda:0, then multiply 8192² bf16 matrices carved out of it."""
    import torch

    block = torch.empty(int(gib * GIB), dtype=torch.uint8, device="cuda:0")
    side = 8192
    a, b, c = (block[i * 2 * side * side : (i + 1) * 2 * side * side].view(torch.bfloat16) for i in range(3))
    a, b, c = (m.view(side, side) for m in (a, b, c))
    a.normal_()
    b.normal_()
    torch.cuda.synchronize()
    print("holding", flush=True)
    time.sleep(2)
    print("computing", flush=True)
    end = time.monotonic() + matmul_s
    while time.monotonic() < end:
        for _ in range(20):
            torch.matmul(a, b, out=c)
        torch.cuda.synchronize()
    del a, b, c, block
    torch.cuda.empty_cache()
    print("freed", flush=True)
    time.sleep(2)


def follow(lines: Iterable[str], events: dict[str, float]) -> None:
    """Note when the helper printed each line."""
    for line in lines:
        events[line.strip()] = time.time()


def check_against_smi(source: NvmlSource, worker_pid: int) -> None:
    """Print our reading of GPU 0 beside nvidia-smi's (and NVML's v1 figure), taken back to back."""
    gpu = source.read()[0]
    smi_used_mib = float(nvidia_smi("memory.used")[0][0])
    v1_used = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used
    apps = dict(nvidia_smi("pid,used_memory", "compute-apps"))
    gap = abs(gpu.mem_used / MIB - smi_used_mib) / smi_used_mib * 100
    print(f"check: v2 used {gpu.mem_used / MIB:.0f} MiB, nvidia-smi {smi_used_mib:.0f} MiB, gap {gap:.2f}%")
    print(f"check: v1 used {v1_used / MIB:.0f} MiB (counts driver-reserved memory)")
    print(f"check: nvidia-smi compute apps (pid: MiB) {apps}")
    for proc in gpu.processes:
        used = proc.used_bytes / MIB if proc.used_bytes is not None else None
        print(f"check: listed pid {proc.pid} {proc.name} {used} MiB worker={proc.pid == worker_pid}")


def record(path: Path, seconds: float, hz: float, load_gib: float, matmul_s: float) -> None:
    source = NvmlSource()
    if source.status:
        sys.exit(source.status)
    events: dict[str, float] = {}
    worker = None
    if load_gib:
        worker = subprocess.Popen(
            [sys.executable, __file__, "--load-worker", str(load_gib), "--matmul-s", str(matmul_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=follow, args=(worker.stdout, events), daemon=True).start()
    snapshots: list[Snapshot] = []
    start, checked = time.time(), False
    with path.open("w", encoding="utf-8") as file:
        while time.time() - start < seconds or (worker and worker.poll() is None):
            snapshot = Snapshot(time=time.time(), gpus=source.read(), error=source.status)
            write_snapshot(file, snapshot)
            snapshots.append(snapshot)
            if worker and "holding" in events and not checked:
                checked = True
                try:
                    check_against_smi(source, worker.pid)
                except (OSError, subprocess.CalledProcessError, ValueError) as error:
                    print(f"check failed: {error!r}")
            time.sleep(max(0.0, 1 / hz - (time.time() - snapshot.time)))
    summarise(snapshots, events, start)
    print(f"wrote {len(snapshots)} snapshots, {path.stat().st_size} bytes to {path}")


def summarise(snapshots: list[Snapshot], events: dict[str, float], start: float) -> None:
    """Baseline vs loaded figures of GPU 0, and when the helper's events happened."""
    for name, at in sorted(events.items(), key=lambda e: e[1]):
        print(f"event {name} at +{at - start:.2f} s")
    idle = [s.gpus[0] for s in snapshots if s.time < events.get("holding", float("inf")) and not s.gpus[0].processes]
    busy = [s.gpus[0] for s in snapshots if events.get("computing", 0) <= s.time <= events.get("freed", 0)]
    peak = max(s.gpus[0].mem_used for s in snapshots)
    if idle:
        base = statistics.median(g.mem_used for g in idle)
        idle_w = statistics.median(g.power_w for g in idle)
        print(f"VRAM: baseline {base / GIB:.2f} GiB, peak {peak / GIB:.2f} GiB, rise {(peak - base) / GIB:.2f}")
        print(f"idle: util max {max(g.util_gpu for g in idle)}%, power median {idle_w:.0f} W")
    if busy:
        print(f"busy: util max {max(g.util_gpu for g in busy)}%, power max {max(g.power_w for g in busy):.0f} W")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hz", type=float, default=5.0)
    parser.add_argument("--load-gib", type=float, default=8.0)
    parser.add_argument("--matmul-s", type=float, default=5.0)
    parser.add_argument("--load-worker", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_worker:
        load_worker(args.load_worker, args.matmul_s)
    elif args.out:
        record(args.out, args.seconds, args.hz, args.load_gib, args.matmul_s)
    else:
        parser.error("give the output path")


if __name__ == "__main__":
    main()
