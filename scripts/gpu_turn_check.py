"""Check on a real NVIDIA GPU that chat turns through vt-tui's core record VRAM peak, energy and J/token.

    # on the GPU machine, repo root, with the wheels of /work/shared/recipes/gpu-transformers-serve.sh in .whl/
    # and SmolLM2's tokenizer files in .gpu/ (both git-ignored):
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    PYTHONPATH=.:/tmp/site HF_HUB_OFFLINE=1 python3 scripts/gpu_turn_check.py --serve --out $OUT/gpu_turn_check.json

With ``--serve`` it builds a random-initialised 1.56B Llama (SmolLM2's tokenizer and chat template) in
``--model-dir``, starts ``transformers serve`` on it and stops it at the end; without, it talks to a server
already at ``--base-url``. Text is gibberish; VRAM, power and speed are real.

What it does: an NVML sampler (``make_sampler(hz=10)``) runs throughout; idle power and VRAM are read before
the server starts and again with the model loaded; then ``--turns`` turns of one conversation go through
``ChatSession`` with ``gpu_cost=(sampler.energy_joules, sampler.peak_vram)``, and each turn's ``TurnStats``
is printed beside the sampler's own view of the same window. ``nvidia-smi`` is read in the middle of each
turn next to the sampler's reading of that moment. The JSON summary goes to ``--out``.

``--ab-tokens N`` adds short turns that compare decode speed with and without sampling (``--ab-modes``, see
``sampler_ab``), after the main turns or, with ``--ab-first``, before them. Results: docs/gpu.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vt_tui.core.endpoint import Endpoint  # noqa: E402
from vt_tui.core.events import TextDelta, TurnFailed, TurnFinished, TurnStarted  # noqa: E402
from vt_tui.core.params import GenerationParams  # noqa: E402
from vt_tui.core.session import ChatSession  # noqa: E402
from vt_tui.gpu.factory import make_sampler  # noqa: E402
from vt_tui.gpu.models import MIB  # noqa: E402
from vt_tui.gpu.nvml import nvidia_smi  # noqa: E402
from vt_tui.gpu.sampler import GpuSampler  # noqa: E402

PROMPTS = (
    "Tell me a long story about a lighthouse keeper and a storm.",
    "Go on with the story: the keeper finds a message in a bottle. Tell it in detail.",
    "Now retell the whole story so far from the point of view of the bottle, at length.",
)

BUILD_MODEL = r"""
import json, shutil, sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
src, dst = sys.argv[1], sys.argv[2]
cfg = json.load(open(src + "/config.json"))
cfg.update(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
           num_key_value_heads=8, torch_dtype="bfloat16")
c = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version")})
torch.manual_seed(0)
m = LlamaForCausalLM(c).to(torch.bfloat16)
print("params %.3f B" % (sum(p.numel() for p in m.parameters()) / 1e9), flush=True)
m.save_pretrained(dst)
for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja"):
    shutil.copy(src + "/" + f, dst + "/" + f)
"""


def log(*args: Any) -> None:
    print(*args, flush=True)


def window(sampler: GpuSampler, t0: float, t1: float) -> dict[str, Any]:
    """The sampler's own view of [t0, t1]: power and utilisation of GPU 0's samples inside it."""
    snaps = [s for s in sampler.history() if t0 <= s.time <= t1 and s.gpus]
    power = [s.gpus[0].power_w for s in snaps if s.gpus[0].power_w is not None]
    util = [s.gpus[0].util_gpu for s in snaps if s.gpus[0].util_gpu is not None]
    mem = [s.gpus[0].mem_used for s in snaps if s.gpus[0].mem_used is not None]
    return {
        "samples": len(snaps),
        "power_median_w": round(statistics.median(power), 1) if power else None,
        "power_max_w": round(max(power), 1) if power else None,
        "util_max_pct": max(util) if util else None,
        "util_median_pct": statistics.median(util) if util else None,
        "vram_min_mib": round(min(mem) / MIB) if mem else None,
        "vram_max_mib": round(max(mem) / MIB) if mem else None,
    }


def idle(sampler: GpuSampler, seconds: float, label: str) -> dict[str, Any]:
    t0 = time.time()
    time.sleep(seconds)
    out = window(sampler, t0, time.time())
    log(f"idle ({label}): {out}")
    return out


def smi_now() -> dict[str, Any]:
    """What nvidia-smi says now: memory and power per GPU, memory per compute process."""
    try:
        return {
            "query_gpu": nvidia_smi("memory.used,power.draw"),
            "compute_apps": nvidia_smi("pid,used_memory", "compute-apps"),
        }
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": repr(exc)}


def processes(sampler: GpuSampler) -> list[dict[str, Any]]:
    history = sampler.history()
    if not history or not history[-1].gpus:
        return []
    return [
        {
            "gpu": g.index,
            "pid": p.pid,
            "name": p.name,
            "cmdline": p.cmdline[:120],
            "used_mib": round(p.used_bytes / MIB) if p.used_bytes is not None else None,
            "is_server": p.is_server,
        }
        for g in history[-1].gpus
        for p in g.processes
    ]


def wait_ready(base_url: str, server: subprocess.Popen | None, limit_s: float) -> float:
    started = time.time()
    while time.time() - started < limit_s:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/models", timeout=2) as response:
                if response.status == 200:
                    return time.time() - started
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"server not ready after {limit_s} s")


def token_counter(model_dir: Path):
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        return lambda text: len(tok.encode(text, add_special_tokens=False).ids)
    except Exception as exc:  # only a cross-check
        log("no tokenizer for the cross-check:", exc)
        return None


async def run_turns(args: argparse.Namespace, sampler: GpuSampler, count_tokens) -> dict[str, Any]:
    windows: list[tuple[float, float]] = []

    def gpu_cost(t0: float, t1: float) -> tuple[float | None, int | None]:
        windows.append((t0, t1))
        return sampler.energy_joules(t0, t1), sampler.peak_vram(t0, t1)

    endpoint = Endpoint(args.base_url)
    params = GenerationParams(max_tokens=args.max_tokens, temperature=0.8)
    out: dict[str, Any] = {}
    if args.warmup:  # the first request of a fresh server pays for CUDA kernels' first launch
        warm = ChatSession(endpoint, model=args.model, params=GenerationParams(max_tokens=16, temperature=0.8))
        async for event in warm.run_turn("Hello"):
            if isinstance(event, TurnFailed):
                out["warmup_error"] = str(event.error)
        log("warm-up done", out.get("warmup_error", ""))
        await asyncio.sleep(1.0)

    session = ChatSession(endpoint, model=args.model, params=params, gpu_cost=gpu_cost)
    turns = []
    for i in range(args.turns):
        prompt = PROMPTS[i % len(PROMPTS)]
        smi: dict[str, Any] = {}
        first_text = threading.Event()

        def probe(first_text: threading.Event = first_text, smi: dict[str, Any] = smi) -> None:
            if not first_text.wait(60):
                return
            time.sleep(args.probe_after_s)
            hist = sampler.history()
            smi["sampler_before"] = _gpu0(hist[-1]) if hist else None
            smi.update(smi_now())
            hist = sampler.history()
            smi["sampler_after"] = _gpu0(hist[-1]) if hist else None

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        result: dict[str, Any] = {"turn": i + 1, "prompt": prompt}
        text = ""
        async for event in session.run_turn(prompt):
            if isinstance(event, TurnStarted):
                result["model"] = event.model
            elif isinstance(event, TextDelta):
                first_text.set()
            elif isinstance(event, TurnFinished | TurnFailed):
                stats = event.stats
                text = event.text if isinstance(event, TurnFinished) else event.partial_text
                if isinstance(event, TurnFailed):
                    result["error"] = str(event.error)
                if stats is not None:
                    result.update(
                        tokens=stats.tokens,
                        tokens_source=stats.tokens_source,
                        prompt_tokens=stats.prompt_tokens,
                        finish_reason=stats.finish_reason,
                        ttft_s=round(stats.ttft_s, 3) if stats.ttft_s is not None else None,
                        duration_s=round(stats.duration_s, 3),
                        tok_per_s=round(stats.tok_per_s, 1) if stats.tok_per_s else None,
                        peak_vram_mib=round(stats.peak_vram_bytes / MIB) if stats.peak_vram_bytes else None,
                        energy_j=round(stats.energy_j, 1) if stats.energy_j is not None else None,
                        j_per_token=round(stats.joules_per_token, 3) if stats.joules_per_token else None,
                        mean_power_w=round(stats.energy_j / stats.duration_s, 1)
                        if stats.energy_j and stats.duration_s
                        else None,
                    )
        first_text.set()
        prober.join(15)
        result["reply_chars"] = len(text)
        if count_tokens is not None:
            result["reply_tokens_by_tokenizer"] = count_tokens(text)
        result["nvidia_smi_mid_turn"] = smi
        if windows:
            t0, t1 = windows[-1]
            await asyncio.sleep(0.3)  # let the sampler pass t1, then integrate the same window again
            result["window_s"] = round(t1 - t0, 3)
            result["energy_j_recomputed_after_0.3s"] = round(sampler.energy_joules(t0, t1), 1)
            result["sampler_window"] = window(sampler, t0, t1)
        result["history_context_chars"] = session.context_chars() if hasattr(session, "context_chars") else None
        log(json.dumps({k: v for k, v in result.items() if k != "prompt"}))
        turns.append(result)
        await asyncio.sleep(args.gap_s)
    out["turns"] = turns
    await endpoint.aclose()
    return out


def _gpu0(snapshot) -> dict[str, Any] | None:
    if not snapshot.gpus:
        return None
    g = snapshot.gpus[0]
    return {
        "t": round(snapshot.time, 2),
        "mem_used_mib": round(g.mem_used / MIB) if g.mem_used is not None else None,
        "power_w": g.power_w,
        "util_pct": g.util_gpu,
    }


class _BasicPoller:
    """The recipe's own sampler: memory, power and utilisation of GPU 0 only, at `hz`, no process list."""

    def __init__(self, hz: float) -> None:
        import pynvml

        self.n, self.period, self.stopping = pynvml, 1.0 / hz, False
        pynvml.nvmlInit()
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = self.n
        while not self.stopping:
            n.nvmlDeviceGetMemoryInfo(self.handle, version=n.nvmlMemory_v2)
            n.nvmlDeviceGetPowerUsage(self.handle)
            n.nvmlDeviceGetUtilizationRates(self.handle)
            time.sleep(self.period)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.n.nvmlShutdown()


AB_MODES = "off,vt-tui 10 Hz,bare 20 Hz,vt-tui 2 Hz,off,vt-tui 10 Hz,recipe client"


async def sampler_ab(args: argparse.Namespace, main: GpuSampler, server_pid: int | None) -> list[dict[str, Any]]:
    """Decode speed of fresh short turns (``--ab-tokens``) under each of ``--ab-modes``, in order.

    Modes: ``off`` (no sampling), ``vt-tui N Hz`` (a new ``make_sampler(hz=N)`` for that turn), ``bare N Hz``
    (memory, power and utilisation polled at N Hz, as the recipe does), ``main`` (the script's own sampler,
    started before the server, still running), ``stop-main`` (stop it; no turn), ``recipe client`` (the
    recipe's synchronous openai client, no sampling). Each turn also records the CPU seconds the server and
    this process used, and one ``nvidia-smi`` reading of clocks, power and utilisation a second in.
    """
    import psutil

    server = psutil.Process(server_pid) if server_pid else None
    endpoint = Endpoint(args.base_url)
    out = []
    for mode in args.ab_modes.split(","):
        mode = mode.strip()
        if mode == "stop-main":
            main.stop()
            log("A/B stopped the main sampler")
            continue
        poller: Any = None
        try:
            if mode.startswith("vt-tui"):
                poller = make_sampler(hz=float(mode.split()[1]))
            elif mode.startswith("bare"):
                poller = _BasicPoller(float(mode.split()[1]))
            if poller is not None:
                poller.start()
        except Exception as exc:
            log("A/B", mode, "could not start:", repr(exc))
            continue
        await asyncio.sleep(1.0)
        smi: dict[str, str] = {}

        def clocks(smi: dict[str, str] = smi) -> None:
            time.sleep(1.0)
            query = "--query-gpu=clocks.sm,clocks.mem,power.draw,utilization.gpu,pstate"
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                smi["smi"] = subprocess.run(
                    ["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True, timeout=10
                ).stdout.strip()

        probe = threading.Thread(target=clocks, daemon=True)
        probe.start()
        cpu0 = server.cpu_times() if server else None
        own0 = os.times()
        if mode.startswith("recipe"):  # the recipe's plain synchronous openai client, chunks counted
            row = await asyncio.to_thread(_recipe_turn, args)
        else:
            session = ChatSession(
                endpoint, model=args.model, params=GenerationParams(max_tokens=args.ab_tokens, temperature=0.8)
            )
            row = {"mode": mode}
            async for event in session.run_turn(PROMPTS[0]):
                if isinstance(event, TurnFinished | TurnFailed) and event.stats is not None:
                    st = event.stats
                    row.update(
                        tokens=st.tokens,
                        ttft_s=round(st.ttft_s or 0, 3),
                        duration_s=round(st.duration_s, 2),
                        tok_per_s=round(st.tok_per_s or 0, 1),
                    )
                if isinstance(event, TurnFailed):
                    row["error"] = str(event.error)
        if server and cpu0:
            cpu1 = server.cpu_times()
            row["server_cpu_s"] = round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 2)
        own1 = os.times()
        row["client_cpu_s"] = round(own1.user + own1.system - own0.user - own0.system, 2)
        probe.join(15)
        row["nvidia_smi"] = smi.get("smi")
        if poller is not None:
            await asyncio.to_thread(poller.stop)
        log("A/B", json.dumps(row))
        out.append(row)
    await endpoint.aclose()
    return out


def _recipe_turn(args: argparse.Namespace) -> dict[str, Any]:
    from openai import OpenAI

    client = OpenAI(base_url=args.base_url, api_key="x", timeout=60, max_retries=0)
    t0, first, n = time.perf_counter(), None, 0
    stream = client.chat.completions.create(
        model=args.model,
        messages=[{"role": "user", "content": PROMPTS[0]}],
        max_tokens=args.ab_tokens,
        stream=True,
        temperature=0.8,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
            first = first or time.perf_counter() - t0
    dt = time.perf_counter() - t0
    client.close()
    gen = dt - (first or 0)
    return {
        "mode": "recipe client",
        "tokens": n,
        "ttft_s": round(first or -1, 3),
        "duration_s": round(dt, 2),
        "tok_per_s": round(n / gen, 1) if gen > 0 else None,
    }


def versions() -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "openai", "httpx2", "pydantic", "pynvml", "psutil", "fastapi", "uvicorn"):
        try:
            from importlib.metadata import version

            dist = {"pynvml": "nvidia-ml-py"}.get(name, name)
            out[name] = version(dist)
        except Exception as exc:
            out[name] = f"? {type(exc).__name__}"
    try:
        import pynvml

        pynvml.nvmlInit()
        out["driver"] = pynvml.nvmlSystemGetDriverVersion()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        out["gpu"] = pynvml.nvmlDeviceGetName(h)
        out["gpu_mem_total_mib"] = pynvml.nvmlDeviceGetMemoryInfo(h).total // MIB
        out["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000
        pynvml.nvmlShutdown()
    except Exception as exc:
        out["nvml"] = repr(exc)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["git"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", action="store_true", help="build the model and start `transformers serve` here")
    ap.add_argument("--gpu-files", type=Path, default=ROOT / ".gpu", help="SmolLM2 config + tokenizer files")
    ap.add_argument("--model-dir", type=Path, default=Path("/tmp/model"))
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--base-url", default=None, help="default: http://127.0.0.1:PORT/v1")
    ap.add_argument("--model", default=None, help="default: --model-dir")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--hz", type=float, default=10.0)
    ap.add_argument("--idle-s", type=float, default=3.0)
    ap.add_argument("--gap-s", type=float, default=2.0, help="pause between turns")
    ap.add_argument("--probe-after-s", type=float, default=2.0, help="nvidia-smi this long after the first text")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false")
    ap.add_argument("--ab-tokens", type=int, default=0, help="compare decode speed with/without sampling")
    ap.add_argument("--ab-modes", default=AB_MODES, help="see sampler_ab (comma-separated)")
    ap.add_argument("--ab-first", action="store_true", help="run the comparison before the main turns")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    args.base_url = args.base_url or f"http://127.0.0.1:{args.port}/v1"
    args.model = args.model or str(args.model_dir)

    summary: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "args": vars(args).copy()}
    summary["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in summary["args"].items()}
    summary["versions"] = versions()
    log(json.dumps(summary["versions"]))

    sampler = make_sampler(hz=args.hz)
    sampler.start()
    server: subprocess.Popen | None = None
    serve_log = Path("/tmp/serve.log")
    try:
        time.sleep(0.5)
        summary["idle_before_server"] = idle(sampler, args.idle_s, "no server")
        if args.serve:
            t = time.time()
            subprocess.run(
                [sys.executable, "-c", BUILD_MODEL, str(args.gpu_files), str(args.model_dir)], check=True, timeout=300
            )
            summary["model_build_s"] = round(time.time() - t, 1)
            Path.home().joinpath(".cache/huggingface/hub").mkdir(parents=True, exist_ok=True)
            server = subprocess.Popen(
                [
                    "transformers",
                    "serve",
                    str(args.model_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(args.port),
                    "--device",
                    "cuda:0",
                ],
                cwd="/tmp",
                stdin=subprocess.DEVNULL,
                stdout=serve_log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            sampler.mark_server(server.pid)
            summary["server_pid"] = server.pid
            summary["server_ready_s"] = round(wait_ready(args.base_url, server, 180), 1)
            log("server ready after", summary["server_ready_s"], "s")
        if args.ab_tokens and args.ab_first:
            summary["sampler_ab"] = asyncio.run(sampler_ab(args, sampler, summary.get("server_pid")))
        summary.update(asyncio.run(run_turns(args, sampler, token_counter(args.model_dir))))
        summary["idle_after_turns"] = idle(sampler, args.idle_s, "model loaded, between turns")
        summary["processes_last_snapshot"] = processes(sampler)
        summary["nvidia_smi_end"] = smi_now()
        log("processes:", json.dumps(summary["processes_last_snapshot"], indent=1))
        log("nvidia-smi at the end:", summary["nvidia_smi_end"])
        if args.ab_tokens and not args.ab_first:
            sampler.stop()
            summary["sampler_ab"] = asyncio.run(sampler_ab(args, sampler, summary.get("server_pid")))
    finally:
        if server is not None:
            with_group = os.getpgid(server.pid) if server.poll() is None else None
            if with_group is not None:
                os.killpg(with_group, signal.SIGTERM)
                try:
                    server.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(with_group, signal.SIGKILL)
            if serve_log.exists():
                tail = serve_log.read_text(errors="replace").splitlines()[-15:]
                summary["serve_log_tail"] = tail
        sampler.stop()
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(summary, indent=1, default=str))
            log("wrote", args.out)

    log("\n| turn | prompt tok | tokens (source) | tokenizer | TTFT s | tok/s | peak VRAM MiB | energy J | J/token |")
    for t in summary.get("turns", []):
        log(
            f"| {t['turn']} | {t.get('prompt_tokens')} | {t.get('tokens')} ({t.get('tokens_source')}) | "
            f"{t.get('reply_tokens_by_tokenizer')} | {t.get('ttft_s')} | {t.get('tok_per_s')} | "
            f"{t.get('peak_vram_mib')} | {t.get('energy_j')} | {t.get('j_per_token')} |"
        )
    failed = [t for t in summary.get("turns", []) if "error" in t or not t.get("energy_j")]
    return 1 if failed or not summary.get("turns") else 0


if __name__ == "__main__":
    sys.exit(main())
