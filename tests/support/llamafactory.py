"""Start and stop a real LLaMA-Factory API server for the e2e tests.

The server is built by `scripts/llamafactory/setup.sh` into a cache dir outside the repo (by default
`${VT_TUI_CI_CACHE:-~/.cache/vt-tui-ci}/llamafactory`): a venv with llamafactory 0.9.5 on CPU torch and
SmolLM2-135M-Instruct in Hugging Face format, served with the Hugging Face backend.

    cache_dir = llamafactory_available()          # None when not built
    with run_llamafactory("key", cache_dir) as base_url:   # http://127.0.0.1:<port>/v1
        ...

The server runs in its own session (process group); it is stopped by signalling the whole group, and the
kernel kills it (PR_SET_PDEATHSIG) if the process that started it dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0

_PR_SET_PDEATHSIG = 1


E2E_API_KEY = "vt-tui-e2e-key"  # the key the e2e server is started with


def default_cache_dir() -> Path:
    root = os.environ.get("VT_TUI_CI_CACHE") or str(Path.home() / ".cache" / "vt-tui-ci")
    return Path(root) / "llamafactory"


def llamafactory_available(cache_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The cache dir when setup.sh has finished a build there (its stamp is written last), else None."""
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    needed = (d / "stamp", d / "api.yaml", d / "venv" / "bin" / "llamafactory-cli", d / "smollm2-hf" / "config.json")
    return str(d.resolve()) if all(p.exists() for p in needed) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent(parent_pid: int):
    """preexec_fn: ask the kernel to SIGKILL the child when the thread that forked it dies.

    PR_SET_PDEATHSIG is tied to the forking *thread*: start the server from the main thread (pytest
    fixtures run there) or it dies when a worker thread ends.
    """
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


def _prune_logs(logs: Path, max_age_s: float = 86400.0) -> None:
    """Drop server logs older than a day from the cache dir (one is left per run)."""
    now = time.time()
    for old in logs.glob("api-*.log"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()


def _models_ready(base_url: str, api_key: str) -> bool:
    req = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL it; reap the server."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # start_new_session: the group id is the server's pid
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure nothing else in its group outlives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


@contextlib.contextmanager
def run_llamafactory(
    api_key: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    ready_timeout_s: float = READY_TIMEOUT_S,
    log_path: str | os.PathLike[str] | None = None,
) -> Iterator[str]:
    """Run `llamafactory-cli api` from the cache venv on a free loopback port; yield its `/v1` base URL.

    Ready means `GET /v1/models` with the key answered 200. The server's stdout and stderr go to
    `log_path` (default CACHE_DIR/logs/api-<port>.log, pruned after a day); its tail is in the error when it
    fails to start.
    """
    d = llamafactory_available(cache_dir)
    if d is None:
        raise RuntimeError(
            f"LLaMA-Factory is not built in {cache_dir or default_cache_dir()}: run scripts/llamafactory/setup.sh"
        )
    cache = Path(d)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    if log_path is None:
        _prune_logs(cache / "logs")
        log = cache / "logs" / f"api-{port}.log"
    else:
        log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_KEY": api_key,
        "API_VERBOSE": "0",  # read by older releases only; 0.9.5 logs per LLAMAFACTORY_VERBOSITY
    }
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):  # the test runner's venv must not leak in
        env.pop(var, None)
    cmd = [str(cache / "venv" / "bin" / "llamafactory-cli"), "api", str(cache / "api.yaml")]
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=cache,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not _models_ready(base_url, api_key):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"LLaMA-Factory exited with {proc.returncode} before it was ready; {log}:\n{_log_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"LLaMA-Factory not ready on {base_url} after {ready_timeout_s:.0f} s; {log}:\n{_log_tail(log)}"
                )
            time.sleep(0.5)
        yield base_url
    finally:
        _stop(proc)
