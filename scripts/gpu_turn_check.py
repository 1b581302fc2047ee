"""The real-GPU proof of vt-tui's GPU figures: a turn's energy counts only the serving engine's GPU.

On a machine with two NVIDIA GPUs and torch + transformers (nothing else needed on the box):

1. starts ``transformers serve`` on GPU 0 with a random-initialised Llama of 1.2–1.6B parameters (text is gibberish;
   VRAM, power and speed are real), and a second process on GPU 1 that holds memory and burns power (another
   user's job);
2. logs ``nvidia-smi --query-gpu=power.draw`` every 100 ms for the whole run;
3. runs ``--turns`` chat turns through vt-tui's core (``ChatSession`` with the app's ``GpuMeter``), then one
   ``vt-tui ask --json``; for each, compares vt-tui's energy with nvidia-smi's power integrated over GPU 0 in the same
   window, and shows what summing every GPU (the old rule) would have said;
4. saves SVG screenshots of the app and of ``vt-tui gpu`` at 80×24 and 160×48, and ``vt-tui gpu --json``;
5. prints a table and writes ``result.json``, all into OUT_DIR.

Run (repo root; the whole thing takes 3–5 minutes, with a hard stop at ``--deadline-s``, 470 s)::

    python3 scripts/gpu_turn_check.py OUT_DIR

It needs vt-tui's own dependencies and those of ``transformers serve``. Where they are missing it installs the
wheels in ``.whl/`` (repo root) into /tmp/site and starts again; prepare them on a machine with the package index::

    python3 scripts/gpu_turn_check.py --fetch-wheels .whl          # Python 3.12, manylinux x86_64 (``--py``)

SmolLM2's tokenizer files in ``.gpu/`` are used if present (as in docs/gpu.md); otherwise a small byte-level BPE
tokenizer is trained on the repo's own docs, on the box, in a second. Every step fails soft: a step that fails is
reported (with the end of its log) and the rest still run where they can. Exit status: 0 all checks passed,
1 a check failed, 2 the box cannot run it (no GPU, missing packages).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SITE = Path("/tmp/site")
SOURCE = Path("/tmp/vt-src")  # vt-tui laid out as installed, made of links to this checkout (see source_package)
MODEL_DIR = Path("/tmp/vt-gpu-model")
SERVE_LOG = Path("/tmp/vt-gpu-serve.log")
PORT = 8011
MIB = 1024**2
# What the box needs beyond torch and transformers: transformers serve's server and vt-tui's own (with their
# dependencies, resolved by pip for the box's Python: 35 wheels, 9.4 MiB on 2026-11-30).
WHEELS = (
    *("fastapi", "uvicorn", "openai", "truststore", "python-multipart"),
    *("textual", "httpx", "prometheus-client", "psutil", "nvidia-ml-py"),
)
NEEDED = ("torch", "transformers", "fastapi", "uvicorn", "openai", "httpx", "httpx2", "textual", "psutil", "pynvml")
PROMPTS = (
    "Tell me a long story about a lighthouse keeper and a storm.",
    "Go on with the story: the keeper finds a message in a bottle. Tell it in detail.",
    "Now retell the whole story so far from the point of view of the bottle, at length.",
)
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
BUILD_MODEL = r"""
import glob, json, shutil, sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
src, dst, root, chatml = sys.argv[1:5]
files = ("tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja")
try:
    cfg = json.load(open(src + "/config.json"))
    print("tokenizer: SmolLM2's, from", src, flush=True)
except OSError:  # no .gpu/: a byte-level BPE trained on the repo's docs (gibberish either way)
    files = ()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=8192, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    lines = [l for p in glob.glob(root + "/docs/*.md") + [root + "/README.md"] for l in open(p, errors="replace")]
    tok.train_from_iterator(lines, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = chatml
    fast.save_pretrained(dst)
    cfg = {"vocab_size": len(fast), "bos_token_id": fast.bos_token_id, "eos_token_id": fast.eos_token_id,
           "pad_token_id": fast.pad_token_id, "max_position_embeddings": 8192, "tie_word_embeddings": True}
    print("tokenizer: trained here,", len(fast), "tokens", flush=True)
cfg.update(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
           num_key_value_heads=8, torch_dtype="bfloat16")
c = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version")})
torch.manual_seed(0)
m = LlamaForCausalLM(c).to(torch.bfloat16)
print("params %.3f B" % (sum(p.numel() for p in m.parameters()) / 1e9), flush=True)
m.save_pretrained(dst)
for f in files:  # after the model, as the recipe does: SmolLM2's generation config wins
    shutil.copy(src + "/" + f, dst + "/" + f)
"""
# Another user's job on the second GPU: holds memory and keeps the GPU busy until killed.
BURNER = r"""
import sys, time, torch
hold = torch.empty(int(float(sys.argv[1]) * 2**30), dtype=torch.uint8, device="cuda:0")
a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda:0")
b = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda:0")
torch.cuda.synchronize()
print("ready", flush=True)
while True:
    for _ in range(8):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    time.sleep(0.01)
"""


def log(*args: Any) -> None:
    print(*args, flush=True)


class Proof:
    """What was measured and what went wrong, kept as the run goes (printed and saved even when cut short)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.data: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "steps": {}, "checks": []}

    def step(self, name: str, **info: Any) -> None:
        self.data["steps"].setdefault(name, {}).update(info)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.data["checks"].append({"check": name, "ok": bool(ok), "detail": detail})
        log(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")

    def failed(self, name: str, error: BaseException | str, log_file: Path | None = None) -> None:
        tail = log_file.read_text(errors="replace").splitlines()[-12:] if log_file and log_file.exists() else []
        self.step(name, error=str(error), log_tail=tail)
        self.check(name, False, f"step failed: {error}")
        for line in tail:
            log("   |", line)

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "result.json").write_text(json.dumps(self.data, indent=1, default=str))


# preparing the box


def fetch_wheels(target: Path, python: str) -> int:
    """On a machine with the package index: the wheels the GPU box lacks, for its Python and platform."""
    target.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--dest",
        str(target),
        *WHEELS,
    ]
    done = subprocess.run(command)
    size = sum(p.stat().st_size for p in target.glob("*.whl")) / MIB
    log(f"{len(list(target.glob('*.whl')))} wheels, {size:.1f} MiB in {target}")
    return done.returncode


def source_package() -> Path:
    """A folder holding ``vt_tui`` as an install lays it out: the checkout's ``prompts/`` and ``tools/`` become
    ``vt_tui.prompts`` and ``vt_tui.tools`` (setup.cfg's package_dir). Run from the bare checkout they do not exist,
    and ``ask`` and the app stop at loading the personas. Links, not copies: nothing of the checkout moves."""
    package = SOURCE / "vt_tui"
    if not package.exists():
        package.mkdir(parents=True)
        for entry in (ROOT / "vt_tui").iterdir():
            (package / entry.name).symlink_to(entry)
        for name in ("prompts", "tools"):
            (package / name).symlink_to(ROOT / name)
    return SOURCE


def with_source(env: dict[str, str]) -> dict[str, str]:
    """``env`` with vt-tui's package (as installed) first on PYTHONPATH."""
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    return dict(env, PYTHONPATH=os.pathsep.join([str(source_package()), *rest]))


def missing() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def ensure_packages() -> list[str]:
    """Install .whl/ into /tmp/site and start again if anything is missing; what is still missing after that."""
    gone = missing()
    if not gone or os.environ.get("VT_GPU_CHECK_INSTALLED"):
        return gone
    wheels = sorted((ROOT / ".whl").glob("*.whl"))
    if not wheels:
        return gone
    log(f"missing {', '.join(gone)}: installing {len(wheels)} wheels from .whl/ into {SITE}")
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--no-cache-dir",
        "--upgrade",
        "--target",
        str(SITE),
        *map(str, wheels),
    ]
    if subprocess.run(pip).returncode != 0:
        return gone
    env = with_source(dict(os.environ, VT_GPU_CHECK_INSTALLED="1", PYTHONPATH=str(SITE)))
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
    return gone  # not reached


# nvidia-smi, as the reference


class SmiLog:
    """`nvidia-smi --query-gpu=timestamp,index,power.draw,memory.used -lms 100` for the whole run, by GPU index."""

    def __init__(self) -> None:
        query = "--query-gpu=timestamp,index,power.draw,memory.used"
        self.points: dict[int, list[tuple[float, float, float]]] = {}  # index -> [(time, W, MiB)]
        self.proc: subprocess.Popen | None = None
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", query, "--format=csv,noheader,nounits", "-lms", "100"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError as error:
            log("no nvidia-smi:", error)
            return
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                stamp, index, power, used = (field.strip() for field in line.split(","))
                when = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()  # local time, as time.time()
                self.points.setdefault(int(index), []).append((when, float(power), float(used)))
            except ValueError:
                continue

    def energy(self, index: int, t0: float, t1: float) -> float:
        from vt_tui.gpu.sampler import integrate

        return integrate(((t, w) for t, w, _ in self.points.get(index, [])), t0, t1)

    def peak_mib(self, index: int, t0: float, t1: float) -> float | None:
        used = [m for t, _, m in self.points.get(index, []) if t0 <= t <= t1]
        return max(used) if used else None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()


def gpu_count() -> int:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


# the engine and the other job


def start(command: list[str], log_file: Path, gpu: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A process on one GPU (CUDA_VISIBLE_DEVICES), in its own process group, logging to a file."""
    env = dict(env or os.environ, CUDA_VISIBLE_DEVICES=str(gpu))
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log_file.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd="/tmp",
        start_new_session=True,
    )


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def wait_ready(base_url: str, server: subprocess.Popen, limit_s: float) -> float:
    started = time.time()
    while time.time() - started < limit_s:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(base_url + "/models", timeout=2) as response:
            if response.status == 200:
                return time.time() - started
        time.sleep(1)
    raise RuntimeError(f"not ready after {limit_s:.0f} s")


# turns through vt-tui's core


async def core_turns(args: argparse.Namespace, proof: Proof, smi: SmiLog) -> None:
    from vt_tui.core.endpoint import Endpoint
    from vt_tui.core.events import TurnFailed, TurnFinished
    from vt_tui.core.params import GenerationParams
    from vt_tui.core.session import ChatSession
    from vt_tui.gpu.attribution import GpuMeter
    from vt_tui.gpu.factory import make_sampler

    sampler = make_sampler(hz=10)
    sampler.start()
    meter = GpuMeter(base_url=args.base_url)  # found as the app finds it: the process on the base_url's port
    meter.attach(sampler)
    windows: list[tuple[float, float]] = []

    def measured(t0: float, t1: float):
        windows.append((t0, t1))
        return meter(t0, t1)

    endpoint = Endpoint(args.base_url)
    try:
        await asyncio.sleep(1.0)
        warm = ChatSession(endpoint, model=args.model, params=GenerationParams(max_tokens=16, temperature=0.8))
        async for _ in warm.run_turn("Hello"):
            pass
        session = ChatSession(
            endpoint,
            model=args.model,
            gpu_cost=measured,
            params=GenerationParams(max_tokens=args.max_tokens, temperature=0.8),
        )
        for n in range(args.turns):
            row: dict[str, Any] = {"turn": n + 1}
            async for event in session.run_turn(PROMPTS[n % len(PROMPTS)]):
                if isinstance(event, TurnFinished | TurnFailed) and event.stats is not None:
                    row.update(_stats(event.stats))
                if isinstance(event, TurnFailed):
                    row["error"] = str(event.error)
            await asyncio.sleep(0.3)  # the sampler passes the turn's end; the same window is integrated again
            if windows:
                t0, t1 = windows[-1]
                row.update(_reference(smi, sampler, t0, t1))
            proof.data.setdefault("turns", []).append(row)
            log("turn", json.dumps(row))
            await asyncio.sleep(args.gap_s)
        proof.step("core turns", processes=_processes(sampler))
    finally:
        await endpoint.aclose()
        await asyncio.to_thread(sampler.stop)


def _stats(stats: Any) -> dict[str, Any]:
    return {
        "tokens": stats.tokens,
        "tokens_source": stats.tokens_source,
        "duration_s": round(stats.duration_s, 2),
        "tok_per_s": round(stats.tok_per_s, 1) if stats.tok_per_s else None,
        "energy_j": round(stats.energy_j, 1) if stats.energy_j is not None else None,
        "j_per_token": round(stats.joules_per_token, 3) if stats.joules_per_token else None,
        "peak_vram_mib": round(stats.peak_vram_bytes / MIB) if stats.peak_vram_bytes else None,
        "gpus": stats.gpus,
        "gpus_chosen_by": stats.gpus_chosen_by,
    }


def _reference(smi: SmiLog, sampler: Any, t0: float, t1: float) -> dict[str, Any]:
    """nvidia-smi over GPU 0 in the turn's window, and what every GPU together would have given (the old rule)."""
    return {
        "window_s": round(t1 - t0, 2),
        "smi_gpu0_j": round(smi.energy(0, t0, t1), 1),
        "smi_gpu1_j": round(smi.energy(1, t0, t1), 1),
        "smi_gpu0_peak_mib": smi.peak_mib(0, t0, t1),
        "all_gpus_j": round(sampler.energy_joules(t0, t1), 1),
        "all_gpus_peak_mib": round((sampler.peak_vram(t0, t1) or 0) / MIB),
    }


def _processes(sampler: Any) -> list[dict[str, Any]]:
    history = sampler.history()
    return [
        {
            "gpu": g.index,
            "pid": p.pid,
            "name": p.name,
            "cmdline": p.cmdline[:100],
            "mib": round((p.used_bytes or 0) / MIB),
            "is_server": p.is_server,
        }
        for g in (history[-1].gpus if history else ())
        for p in g.processes
    ]


def ask_turn(args: argparse.Namespace, proof: Proof, smi: SmiLog) -> None:
    """`vt-tui ask --json` as a user runs it; its turn's window is its duration before the last event arrived."""
    command = [
        sys.executable,
        "-m",
        "vt_tui",
        "ask",
        "--json",
        "--tools",
        "off",
        "--base-url",
        args.base_url,
        "--model",
        args.model,
        "--max-tokens",
        str(args.max_tokens),
        PROMPTS[0],
    ]
    env = with_source(dict(os.environ))
    proc = subprocess.Popen(
        command, cwd=source_package(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    last, ended = None, None
    assert proc.stdout is not None
    for line in proc.stdout:
        last, ended = line, time.time()
    proc.wait(120)
    stderr = proc.stderr.read() if proc.stderr else ""
    event = json.loads(last) if last else {}
    row = {
        "turn": "ask",
        **_stats_from_json(event.get("stats") or {}),
        "exit": proc.returncode,
        "stderr": stderr[-400:],
    }
    if ended is not None and row.get("duration_s"):
        t0, t1 = ended - row["duration_s"], ended
        row.update(
            window_s=round(t1 - t0, 2),
            smi_gpu0_j=round(smi.energy(0, t0, t1), 1),
            smi_gpu1_j=round(smi.energy(1, t0, t1), 1),
        )
    proof.data.setdefault("turns", []).append(row)
    log("ask", json.dumps(row))


def _stats_from_json(stats: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "tokens",
        "tokens_source",
        "duration_s",
        "energy_j",
        "joules_per_token",
        "peak_vram_bytes",
        "gpus",
        "gpus_chosen_by",
    )
    row = {k: stats.get(k) for k in keys}
    row["j_per_token"] = row.pop("joules_per_token")
    peak = row.pop("peak_vram_bytes")
    row["peak_vram_mib"] = round(peak / MIB) if peak else None
    if row["duration_s"] is not None:
        row["duration_s"] = round(row["duration_s"], 2)
    return row


# screenshots


async def screenshots(args: argparse.Namespace, proof: Proof) -> None:
    from vt_tui.gpu.factory import make_sampler
    from vt_tui.settings import Settings
    from vt_tui.ui.app import VtApp
    from vt_tui.ui.gpu_app import GpuApp
    from vt_tui.ui.widgets.composer import Composer

    saved = []
    for width, height in ((80, 24), (160, 48)):
        data = Path(tempfile.mkdtemp(prefix="vt-gpu-app-"))
        settings = Settings(base_url=args.base_url, model=args.model, tools="off", data_dir=data, max_tokens=48)
        app = VtApp(settings)
        async with app.run_test(size=(width, height)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 60)
            if width < 100:
                await pilot.press("f3")  # the side column starts hidden below 100 columns
            app.query_one(Composer).load_text("How much energy did this answer take?")
            await pilot.press("enter")
            await pilot.pause()
            await asyncio.wait_for(app.workers.wait_for_complete(), 120)
            await pilot.pause(2.5)  # a few GPU samples after the turn
            app.clear_notifications()
            await pilot.pause()
            name = f"app-{width}x{height}.svg"
            app.save_screenshot(name, str(args.out))
            saved.append(name)
        gpu = GpuApp(lambda: make_sampler(hz=2))
        async with gpu.run_test(size=(width, height)) as pilot:
            await pilot.pause(3.0)
            name = f"gpu-{width}x{height}.svg"
            gpu.save_screenshot(name, str(args.out))
            saved.append(name)
    proof.step("screenshots", files=saved)
    log("screenshots:", ", ".join(saved))


def gpu_json(args: argparse.Namespace, proof: Proof) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vt_tui", "gpu", "--json"],
        cwd=source_package(),  # -m puts the working folder first on sys.path: not the bare checkout
        env=with_source(dict(os.environ)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    (args.out / "gpu-snapshot.json").write_text(done.stdout)
    snapshot = json.loads(done.stdout or "{}")
    servers = [
        (g["index"], p["pid"], p["name"]) for g in snapshot.get("gpus", []) for p in g["processes"] if p["is_server"]
    ]
    proof.step("gpu --json", exit=done.returncode, gpus=len(snapshot.get("gpus", [])), servers=servers)
    proof.check(
        "vt-tui gpu --json",
        done.returncode == 0 and bool(snapshot.get("gpus")),
        f"{len(snapshot.get('gpus', []))} GPUs, servers {servers}",
    )


# the verdict


def judge(proof: Proof, gpus: int) -> None:
    turns = [t for t in proof.data.get("turns", []) if t.get("energy_j") is not None]
    proof.check("turns measured", bool(turns), f"{len(turns)} turns with energy")
    for asked in (t for t in proof.data.get("turns", []) if t.get("turn") == "ask"):
        why = f"exit {asked.get('exit')}, energy {asked.get('energy_j')} J" + (
            f": {asked['stderr'].strip().splitlines()[-1]}" if asked.get("exit") and asked.get("stderr") else ""
        )
        proof.check("vt-tui ask --json measured", asked.get("energy_j") is not None, why)
    for t in turns:
        label = f"turn {t['turn']}"
        proof.check(f"{label}: counted GPU", t.get("gpus") == "GPU 0", f"{t.get('gpus')} ({t.get('gpus_chosen_by')})")
        if t.get("smi_gpu0_j"):
            gap = (t["energy_j"] - t["smi_gpu0_j"]) / t["smi_gpu0_j"] * 100
            proof.check(
                f"{label}: energy vs nvidia-smi on GPU 0",
                abs(gap) < 5.0,
                f"{t['energy_j']} J vs {t['smi_gpu0_j']} J ({gap:+.2f} %)",
            )
        if gpus > 1 and t.get("all_gpus_j") and t.get("smi_gpu1_j"):
            proof.check(
                f"{label}: GPU 1's job left out",
                t["all_gpus_j"] > 1.5 * t["energy_j"],
                f"all GPUs would say {t['all_gpus_j']} J, GPU 0 alone {t['energy_j']} J",
            )


def _gap(t: dict[str, Any]) -> str | None:
    """vt-tui's energy against nvidia-smi's on GPU 0, in %."""
    if not t.get("energy_j") or not t.get("smi_gpu0_j"):
        return None
    return f"{(t['energy_j'] - t['smi_gpu0_j']) / t['smi_gpu0_j'] * 100:+.2f}"


COLUMNS = (
    ("turn", lambda t: t.get("turn")),
    ("tokens", lambda t: t.get("tokens")),
    ("tok/s", lambda t: t.get("tok_per_s")),
    ("s", lambda t: t.get("duration_s")),
    ("energy J", lambda t: t.get("energy_j")),
    ("smi GPU 0 J", lambda t: t.get("smi_gpu0_j")),
    ("gap %", _gap),
    ("J/tok", lambda t: t.get("j_per_token")),
    ("all GPUs J", lambda t: t.get("all_gpus_j")),
    ("peak MiB", lambda t: t.get("peak_vram_mib")),
    ("smi peak MiB", lambda t: t.get("smi_gpu0_peak_mib")),
    ("GPUs (how found)", lambda t: f"{t.get('gpus')} ({t.get('gpus_chosen_by')})"),
)


def table(proof: Proof) -> str:
    rows = [[name for name, _ in COLUMNS]]
    rows += [["–" if (v := get(t)) is None else str(v) for _, get in COLUMNS] for t in proof.data.get("turns", [])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "textual", "openai", "httpx2", "nvidia-ml-py", "psutil"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        query = "--query-gpu=index,name,driver_version,memory.total,power.limit"
        out["gpus"] = (
            subprocess.run(["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
            .stdout.strip()
            .splitlines()
        )
    return out


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    proof = Proof(args.out)
    gone = ensure_packages()
    if args.rehearse:  # the script itself, on a machine without GPUs: the engine is already at --base-url
        gone = [name for name in gone if name not in ("torch", "transformers")]
    gpus = gpu_count()
    proof.step("box", missing=gone, gpus=gpus, versions=versions() if not gone else None)
    if gone or (gpus < 1 and not args.rehearse):
        why = "no NVIDIA GPU visible"
        if gone:
            base = [name for name in gone if name in ("torch", "transformers")]
            why = f"missing packages: {', '.join(gone)}" + (
                " (torch and transformers must be on the box)" if base else " (carry .whl/: see --fetch-wheels)"
            )
        log(f"cannot run the proof here: {why}")
        proof.check("box", False, why)
        proof.save()
        return 2
    if gpus < 2:
        log(f"{gpus} GPU(s): no job on a second GPU, and the check that it is left out is skipped")
    deadline = time.time() + args.deadline_s
    signal.signal(signal.SIGALRM, _deadline)
    signal.alarm(args.deadline_s)
    smi, server, burner = SmiLog(), None, None
    try:
        server = _serve(args, proof) if args.serve else None
        if gpus > 1 and args.burn_gib > 0:
            burner = start([sys.executable, "-c", BURNER, str(args.burn_gib)], Path("/tmp/vt-gpu-burner.log"), 1)
        if server is not None:
            proof.step("server", pid=server.pid, ready_s=round(wait_ready(args.base_url, server, 180), 1))
        time.sleep(2.0)  # the other job at full power, the engine idle
        steps = (
            ("core turns", lambda: asyncio.run(core_turns(args, proof, smi))),
            ("vt-tui ask --json", lambda: ask_turn(args, proof, smi)),
            ("vt-tui gpu --json", lambda: gpu_json(args, proof)),
            ("screenshots", lambda: asyncio.run(screenshots(args, proof))),
        )
        for name, step in steps:
            if time.time() > deadline:
                break
            try:
                step()
            except Exception as error:  # one step failing leaves the others to run
                proof.failed(name, f"{type(error).__name__}: {error}", SERVE_LOG if server is not None else None)
    except (RuntimeError, subprocess.SubprocessError, TimeoutError) as error:
        proof.failed("setup", error, SERVE_LOG if server is not None else Path("/tmp/vt-gpu-build.log"))
    finally:
        signal.alarm(0)
        proof.step("run", seconds=round(time.time() - deadline + args.deadline_s, 1))
    return _finish(proof, smi, server, burner, gpus)


def _deadline(signum: int, frame: object) -> None:
    raise TimeoutError("the deadline passed (--deadline-s)")


def _serve(args: argparse.Namespace, proof: Proof) -> subprocess.Popen:
    """Build the model (SmolLM2's tokenizer from --gpu-files, else one trained here) and start transformers serve."""
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    build_log = Path("/tmp/vt-gpu-build.log")
    command = [sys.executable, "-c", BUILD_MODEL, str(args.gpu_files), str(MODEL_DIR), str(ROOT), CHATML]
    built = subprocess.run(command, stdout=build_log.open("w"), stderr=subprocess.STDOUT, timeout=300)
    proof.step("model", log=build_log.read_text(errors="replace").strip().splitlines()[-3:])
    if built.returncode != 0:
        raise RuntimeError(f"building the model failed (exit {built.returncode})")
    Path.home().joinpath(".cache/huggingface/hub").mkdir(parents=True, exist_ok=True)  # else /v1/models 500s
    serve = shutil.which("transformers") or "transformers"
    command = [serve, "serve", str(MODEL_DIR), "--host", "127.0.0.1", "--port", str(args.port), "--device", "cuda:0"]
    return start(command, SERVE_LOG, 0, dict(os.environ, HF_HUB_OFFLINE="1"))


def _finish(
    proof: Proof, smi: SmiLog, server: subprocess.Popen | None, burner: subprocess.Popen | None, gpus: int
) -> int:
    stop(server)
    stop(burner)
    smi.stop()
    judge(proof, gpus)
    proof.save()
    log("\n" + table(proof))
    failed = [c["check"] for c in proof.data["checks"] if not c["ok"]]
    log(
        f"\n{len(proof.data['checks']) - len(failed)} checks passed, {len(failed)} failed"
        + (f": {', '.join(failed)}" if failed else "")
        + f"; files in {proof.out}"
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawTextHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("out", type=Path, nargs="?", help="directory for result.json, screenshots, the snapshot")
    parser.add_argument(
        "--fetch-wheels", type=Path, metavar="DIR", help="download the box's wheels into DIR, then stop"
    )
    parser.add_argument("--py", default="3.12", help="the GPU box's Python, for --fetch-wheels")
    parser.add_argument("--no-serve", dest="serve", action="store_false", help="use a server already at --base-url")
    parser.add_argument("--gpu-files", type=Path, default=ROOT / ".gpu", help="SmolLM2 config + tokenizer files")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--base-url", default=None, help="default: http://127.0.0.1:PORT/v1")
    parser.add_argument("--model", default=str(MODEL_DIR))
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--gap-s", type=float, default=1.0, help="pause between turns")
    parser.add_argument("--burn-gib", type=float, default=6.0, help="memory the job on GPU 1 holds (0: no job)")
    parser.add_argument("--deadline-s", type=int, default=470, help="stop, report and clean up after this long")
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="check the script on a machine without GPUs, against --base-url (with --no-serve); GPU checks fail",
    )
    args = parser.parse_args()
    if args.fetch_wheels:
        return fetch_wheels(args.fetch_wheels, args.py)
    if args.out is None:
        parser.error("give OUT_DIR (or --fetch-wheels DIR)")
    args.out = args.out.resolve()
    args.base_url = args.base_url or f"http://127.0.0.1:{args.port}/v1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(source_package()))  # vt_tui as installed: with vt_tui.prompts and vt_tui.tools
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
