"""The GPU pane: hosts, and per GPU a VRAM bar, readings and 60-s sparklines; processes; engines; alerts.

Up to CARDS_UP_TO GPUs each get a card (title, bar, readings, sparklines); more get one row each,
grouped under a header line per host, so 8–64 GPUs stay readable. `h` (when the pane has focus,
or in `vt-tui gpu`) shows one host at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Static

from vt_tui.gpu.models import (
    GIB,
    MIB,
    Alert,
    AlertKind,
    EngineMetrics,
    GpuKey,
    GpuProcess,
    GpuSample,
    HostSource,
    HostStatus,
    Snapshot,
)
from vt_tui.gpu.programs import program
from vt_tui.ui.widgets.status_bar import short_tokens

GPU_PANE_TCSS = Path(__file__).with_name("gpu_pane.tcss")
SPARK_WINDOW_S = 60.0
SPARK_SLOT_S = 1.0  # the sparklines keep a true time axis of whole-second slots
SPARK_SLOTS = int(SPARK_WINDOW_S / SPARK_SLOT_S)
WIDE_FROM = 60  # cells; narrower panes show two lines per GPU card
GRID_FROM = 140  # cells; wider panes put cards, or rows, in two columns
TALL_LINES_PER_GPU = 11  # pane height per GPU from which the sparklines grow to three lines
CARDS_UP_TO = 4  # GPUs shown; more are drawn as one row each
MAX_PROCESS_ROWS = 16  # servers first; the rest are counted
LIVE_S = 1.5  # a scrape younger than this reads "live"
BLOCKS = " ▁▂▃▄▅▆▇█"
MARK = "⚠"


def _num(value: float | None, fmt: str = "{:.0f}", unit: str = "") -> str:
    return "–" if value is None else fmt.format(value) + unit


def _size(size: int | None, compact: bool) -> str:
    """GiB to one decimal, or whole MiB under 1 GiB."""
    if size is not None and size < GIB:
        return f"{size / MIB:.0f}{'M' if compact else ' MiB'}"
    return _num(None if size is None else size / GIB, "{:.1f}", "G" if compact else " GiB")


def _brief_size(size: int | None) -> str:
    """At most four cells: 800M, 7.5G, 72G."""
    if size is None:
        return "–"
    if size < GIB:
        return f"{size / MIB:.0f}M"
    return f"{size / GIB:.1f}G" if size < 10 * GIB else f"{size / GIB:.0f}G"


def _age(seconds: float) -> str:
    return "live" if seconds < LIVE_S else f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _slotted(history: Iterable[tuple[float, float]], now: float) -> list[float]:
    """One value per whole second of the window (max within it, carried over gaps, 0 before any).

    Slots sit on whole seconds, so samples within a second change only the last slot, and an
    unchanged series lets the sparkline skip its redraw.
    """
    slots: list[float | None] = [None] * SPARK_SLOTS
    newest = int(now // SPARK_SLOT_S)
    for time, value in history:
        i = min(max(int(time // SPARK_SLOT_S) - newest + SPARK_SLOTS - 1, 0), SPARK_SLOTS - 1)
        slots[i] = max(slots[i] or 0.0, value)
    filled, last = [], 0.0
    for value in slots:
        last = last if value is None else value
        filled.append(last)
    return filled


def _process_cells(mark: str, gpu: object, pid: object, used: str) -> str:
    """The fixed-width start of a process row (and of its header)."""
    return f"{mark}{'' if gpu is None else f'{gpu:<3}'}{pid:<8}{used:>5}  "


def _put(static: Static, content: Content) -> None:
    """Update only on change; lay out again only when the number of lines changes."""
    old = static.content
    if isinstance(old, Content) and old.is_same(content):
        return
    relayout = not isinstance(old, Content) or old.plain.count("\n") != content.plain.count("\n")
    static.update(content, layout=relayout)


def _short(name: str) -> str:
    return name.removeprefix("NVIDIA ").removeprefix("GeForce ")


class Spark(Widget):
    """A sparkline on a true scale: 0 at the bottom, `top` (VRAM total, 100 %) at the top, one or more lines.

    Textual's Sparkline scales to the data's own min–max, so a flat 3 % of VRAM drew as full bars.
    """

    COMPONENT_CLASSES = {"spark--bar", "spark--base"}

    def __init__(self, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.data: tuple[float, ...] = ()
        self.top = 1.0

    def set(self, data: Sequence[float], top: float) -> None:
        data = tuple(data)
        if (data, top) != (self.data, self.top):
            self.data, self.top = data, top
            self.refresh()

    def render(self) -> Content:
        width, height = self.size.width, max(self.size.height, 1)
        if not self.data or width <= 0:
            return Content("")
        n, eighths = len(self.data), height * 8
        columns = [max(self.data[c * n // width : max((c + 1) * n // width, c * n // width + 1)]) for c in range(width)]
        levels = [_level(value, self.top, eighths) for value in columns]
        bar, base = (self.get_visual_style(name, partial=True) for name in ("spark--bar", "spark--base"))
        lines = []
        for row in range(height - 1, -1, -1):
            cells = [min(max(level - row * 8, 0), 8) for level in levels]
            parts = [(BLOCKS[c], bar) if c else (BLOCKS[1] if row == 0 else " ", base) for c in cells]
            lines.append(Content.assemble(*parts))
        return Content("\n").join(lines)


def _level(value: float, top: float, eighths: int) -> int:
    """Eighths of a cell to fill for `value` on a 0..`top` scale; anything above 0 shows at least one."""
    if value <= 0 or top <= 0:
        return 0
    return max(1, min(eighths, round(value / top * eighths)))


class VramBar(Widget):
    """A one-line bar of used over total VRAM with the figures after it."""

    COMPONENT_CLASSES = {"vram-bar--used", "vram-bar--high", "vram-bar--free"}

    def __init__(self) -> None:
        super().__init__()
        self.used: int | None = None
        self.total: int | None = None
        self.compact = False

    def set(self, used: int | None, total: int | None, compact: bool) -> None:
        if (used, total, compact) != (self.used, self.total, self.compact):
            self.used, self.total, self.compact = used, total, compact
            self.refresh()

    def render(self) -> Content:
        if self.used is None or not self.total:
            return Content("VRAM –")
        share = self.used / self.total
        head = "" if self.compact else "VRAM  "
        tail = f" {_size(self.used, self.compact)}/{_size(self.total, self.compact)}"
        if not self.compact:
            tail += f" {share:4.0%}"
        room = max(self.size.width - len(head) - len(tail), 0)
        return Content.assemble(head, *_bar(room, share, self.get_visual_style, "vram-bar--"), tail)


def _bar(
    room: int, share: float, style_of: Callable[..., Style], prefix: str
) -> tuple[tuple[str, Style], tuple[str, Style]]:
    """The used and free parts of a `room`-cell bar, styled by the component classes `prefix` + used/high/free."""
    filled = round(room * min(max(share, 0.0), 1.0))
    used_style = f"{prefix}high" if share >= 0.9 else f"{prefix}used"
    return (
        ("━" * filled, style_of(used_style, partial=True)),
        ("━" * (room - filled), style_of(f"{prefix}free", partial=True)),
    )


class GpuCard(Vertical):
    """One GPU: title (plus brief readings when compact), VRAM bar, then readings and sparklines."""

    def __init__(self) -> None:
        super().__init__(classes="gpu-card")
        self.title = Static(classes="gpu-title")
        self.brief = Static(classes="gpu-brief")
        self.bar = VramBar()
        self.stats = Static(classes="gpu-stats")
        self.vram_spark = Spark(classes="vram-spark")
        self.vram_peak = Static(classes="spark-peak")
        self.util_spark = Spark(classes="util-spark")
        self.util_peak = Static(classes="spark-peak")
        self.sample: GpuSample | None = None
        self.alert = False
        self._history: deque[tuple[float, int, float]] = deque()  # (time, VRAM used, util %)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="gpu-head"):
            yield self.title
            yield self.brief
        yield self.bar
        yield self.stats
        with Horizontal(classes="spark-row"):
            yield Static("VRAM", classes="spark-label")
            yield self.vram_spark
            yield self.vram_peak
        with Horizontal(classes="spark-row util-row"):
            yield Static("util", classes="spark-label")
            yield self.util_spark
            yield self.util_peak

    def show(self, sample: GpuSample, time: float, compact: bool, alert: bool) -> None:
        """Take a new reading and redraw."""
        self.sample, self.alert = sample, alert
        if self._history and time < self._history[-1][0]:
            self._history.clear()  # the clock went back
        self._history.append((time, sample.mem_used or 0, float(sample.util_gpu or 0)))
        while self._history[0][0] <= time - SPARK_WINDOW_S:
            self._history.popleft()
        self.redraw(compact)

    def redraw(self, compact: bool) -> None:
        """Redraw the last reading for this width; parts hidden at this width are left alone."""
        s = self.sample
        if s is None:
            return
        mark = f" {MARK}" if self.alert else ""
        util, temp = _num(s.util_gpu, unit="%"), _num(s.temperature_c, unit="°C")
        self.bar.set(s.mem_used, s.mem_total, compact)
        self.set_class(self.alert, "-alert")
        if compact:
            _put(self.title, Content(f"{s.index} {_short(s.name)}{mark}"))
            _put(self.brief, Content(f" {util:>4} {temp:>5} {_num(s.power_w, unit='W'):>4}"))
            return
        _put(self.title, Content(f"GPU {s.index}  {s.name}{mark}"))
        power = _num(s.power_w, unit=" W")
        if s.power_limit_w is not None:
            power = f"{_num(s.power_w)} / {s.power_limit_w:.0f} W"
        clock = _num(s.sm_clock_mhz, unit=" MHz")
        throttled = f"  ({', '.join(s.throttle)})" if s.throttle else ""
        _put(
            self.stats,
            Content(f"util {util}  mem io {_num(s.util_mem, unit='%')}  {temp}  {power}  {clock}{throttled}"),
        )
        now = self._history[-1][0]
        total = float(s.mem_total or max(u for _, u, _ in self._history) or 1)
        self.vram_spark.set(_slotted(((t, used) for t, used, _ in self._history), now), total)
        self.util_spark.set(_slotted(((t, util) for t, _, util in self._history), now), 100.0)
        _put(self.vram_peak, Content(f"max {_size(max(u for _, u, _ in self._history), True)}"))
        _put(self.util_peak, Content(f"max {max(u for _, _, u in self._history):.0f}%"))


class HostSection(Vertical):
    """One host: a header line (when there are several, or a remote one), then its GPUs as cards or rows."""

    def __init__(self, name: str, keys: Sequence[GpuKey], rows: bool) -> None:
        super().__init__(classes="host-section")
        self.host_name = name
        self.head = Static(classes="host-head")
        self.cards = {key: GpuCard() for key in ([] if rows else keys)}
        self.cards_box = Vertical(*self.cards.values(), classes="host-cards")
        self.rows = Static(classes="host-rows")
        self.cards_box.display = not rows and bool(keys)
        self.rows.display = rows and bool(keys)  # an unreachable host is its header alone

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.cards_box
        yield self.rows


class GpuPane(Widget, can_focus=True):
    """Shows a Snapshot; holds no logic beyond laying it out. Text from processes stays inert."""

    BINDINGS = [Binding("h", "cycle_host", "Hosts", tooltip="Show one host at a time, then all")]
    COMPONENT_CLASSES = {
        "gpu-pane--server",
        "gpu-pane--dim",
        "gpu-pane--error",
        "gpu-pane--alert",
        "gpu-pane--bar-used",
        "gpu-pane--bar-high",
        "gpu-pane--bar-free",
    }

    def __init__(self, *, id: str | None = None, classes: str | None = None, host: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "GPU"
        self.message = Static(id="gpu-message")
        self.alerts = Static(id="gpu-alerts")
        self.hosts_box = Vertical(id="gpu-hosts")
        self.procs = Static(id="gpu-procs")
        self.engines = Static(id="gpu-engines")
        self.snapshot: Snapshot | None = None
        self.host_filter = host
        self._sections: dict[str, HostSection] = {}
        self._layout: tuple | None = None
        self._told: set[tuple] = set()  # alerts already notified

    def compose(self) -> ComposeResult:
        yield self.message
        yield self.alerts
        yield self.hosts_box
        yield self.procs
        yield self.engines

    @property
    def compact(self) -> bool:
        return self.size.width < WIDE_FROM

    def on_resize(self, event: events.Resize) -> None:
        if self.snapshot is not None:
            self._draw(self.snapshot)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Update every part in place (widgets are made only when the hosts, GPUs or layout change)."""
        if not self.is_attached:
            return
        self.snapshot = snapshot
        self._tell(snapshot.alerts)
        self._draw(snapshot)

    def action_cycle_host(self) -> None:
        """All hosts → each host in turn → all hosts."""
        names = [name for name, _, _ in self._groups(self.snapshot)] if self.snapshot else []
        if len(names) < 2:
            self.host_filter = None
            self.notify("Only one host to show.")
        elif self.host_filter not in names:
            self.host_filter = names[0]
        else:
            at = names.index(self.host_filter) + 1
            self.host_filter = names[at] if at < len(names) else None
        if self.snapshot is not None:
            self._draw(self.snapshot)

    def _tell(self, alerts: Sequence[Alert]) -> None:
        """One notification per alert, when it starts (the sampler's AlertState already debounced it)."""
        keys = {a.key for a in alerts}
        for alert in alerts:
            if alert.key not in self._told:
                severe = alert.kind in (AlertKind.ECC, AlertKind.HOST)
                self.notify(alert.message, title="GPU alert", severity="error" if severe else "warning", timeout=10)
        self._told = keys

    @staticmethod
    def _groups(snapshot: Snapshot) -> list[tuple[str, HostStatus | None, list[GpuSample]]]:
        """(name, status, GPUs) per host, in the snapshot's order; this machine's GPUs have host None."""
        local = next((h for h in snapshot.hosts if h.source is HostSource.NVML), None)
        groups: dict[str | None, tuple[str, HostStatus | None, list[GpuSample]]] = {}
        for status in snapshot.hosts:
            key = None if status.source is HostSource.NVML else status.name
            groups[key] = (status.name, status, [])
        for gpu in snapshot.gpus:
            if gpu.host not in groups:
                groups[gpu.host] = (gpu.host or (local.name if local else "local"), None, [])
            groups[gpu.host][2].append(gpu)
        return [g for g in groups.values() if g[2] or (g[1] is not None and g[1].source is not HostSource.NVML)]

    def _draw(self, snapshot: Snapshot) -> None:
        groups = self._groups(snapshot)
        names = [name for name, _, _ in groups]
        if self.host_filter not in names:
            self.host_filter = None
        shown = [g for g in groups if self.host_filter in (None, g[0])]
        rows = sum(len(gpus) for _, _, gpus in shown) > CARDS_UP_TO
        layout = (rows, tuple((name, tuple(g.key for g in gpus)) for name, _, gpus in shown))
        if layout != self._layout:
            self._layout = layout
            self.hosts_box.remove_children()
            self._sections = {name: HostSection(name, keys, rows) for name, keys in layout[1]}
            self.hosts_box.mount_all(self._sections.values())
        self._fit(rows, sum(len(gpus) for _, _, gpus in shown))
        headed = len(groups) > 1 or any(s is not None and s.source is not HostSource.NVML for _, s, _ in groups)
        alerted = {(a.host, a.gpu) for a in snapshot.alerts}
        for name, status, gpus in shown:
            section = self._sections[name]
            section.head.display = headed
            if headed:
                _put(section.head, self._host_header(name, status, gpus, snapshot.time, alerted))
            if rows:
                _put(section.rows, self._gpu_rows(gpus, alerted))
            else:
                for card, gpu in zip(section.cards.values(), gpus, strict=True):
                    card.show(gpu, snapshot.time, self.compact, (gpu.host, gpu.index) in alerted)
        where = f" · {self.host_filter}" if self.host_filter else f" · {len(groups)} hosts" if len(groups) > 1 else ""
        self.border_title = "GPU" + where
        self._show_text(snapshot, [g for _, _, gpus in shown for g in gpus])

    def _fit(self, rows: bool, count: int) -> None:
        """Two lines per card when narrow; two columns where there is room; taller sparklines with height to spare."""
        grid = self.size.width >= GRID_FROM and count > 1
        lines = -(-count // 2) if grid else count
        self.set_class(self.compact, "-compact")
        self.set_class(grid and not rows, "-grid")
        self.set_class(not rows and not self.compact and self.size.height >= TALL_LINES_PER_GPU * lines + 8, "-tall")

    def _style(self, name: str) -> Style:
        return self.get_visual_style(name, partial=True)

    def _host_header(
        self, name: str, status: HostStatus | None, gpus: Sequence[GpuSample], now: float, alerted: set
    ) -> Content:
        if status is not None and not status.reachable:
            seen = "never reached" if status.last_seen is None else f"last seen {_age(now - status.last_seen)}"
            text = f"✗ {name}  unreachable: {status.error} · {seen}"
            return Content.styled(text, self._style("gpu-pane--error"))
        mark = f" {MARK}" if (name, None) in alerted or any((g.host, g.index) in alerted for g in gpus) else ""
        used = sum(g.mem_used or 0 for g in gpus)
        total = sum(g.mem_total or 0 for g in gpus)
        power = sum(g.power_w or 0 for g in gpus)
        count = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}"
        remote = status is not None and status.source is not HostSource.NVML
        age = _age(now - status.last_seen) if remote and status.last_seen is not None else ""
        watts = f"{power:.0f} W" if power < 1000 else f"{power / 1000:.1f} kW"
        if self.compact:
            figures = [count, watts.replace(" ", ""), age]
        else:
            source = str(status.source).removesuffix("-exporter") if status is not None else ""
            figures = [source, count, f"{used / GIB:.0f}/{total / GIB:.0f} GiB", watts, age]
        head = Content.assemble(("● ", self._style("gpu-pane--server")), (name, Style(bold=True)))
        tail = Content("  " + "  ".join(f for f in figures if f))
        if mark:
            tail = Content.assemble(tail, (mark, self._style("gpu-pane--alert")))
        return Content.assemble(head, tail)

    def _gpu_rows(self, gpus: Sequence[GpuSample], alerted: set) -> Content:
        """One line per GPU; two columns of them where the pane is wide."""
        two = self.size.width >= GRID_FROM and len(gpus) > 1
        width = max(self.scrollable_content_region.width, 20)  # less the scrollbar a fleet brings
        cell = (width - 3) // 2 if two else width
        name_width = min(max((len(_short(g.name)) for g in gpus), default=0), 18)
        lines = [self._gpu_row(g, cell, name_width, (g.host, g.index) in alerted) for g in gpus]
        if not two:
            return Content("\n").join(lines)
        half = -(-len(lines) // 2)
        left, right = lines[:half], lines[half:]
        paired = [
            Content.assemble(a, " " * (cell - a.cell_length + 3), b) if b is not None else a
            for a, b in zip(left, [*right, None][: len(left)], strict=True)
        ]
        return Content("\n").join(paired)

    def _gpu_row(self, g: GpuSample, width: int, name_width: int, alert: bool) -> Content:
        mark = (MARK, self._style("gpu-pane--alert")) if alert else " "
        util, power = _num(g.util_gpu, unit="%"), _num(g.power_w, unit="W")
        share = g.mem_used / g.mem_total if g.mem_used is not None and g.mem_total else 0.0
        if width < WIDE_FROM:
            tail = f" {_brief_size(g.mem_used):>4} {util:>4} {_num(g.temperature_c, unit='°'):>4} {power:>5}"
            head = f"{g.index:>2} "
        else:
            limit = f"/{g.power_limit_w:.0f}" if g.power_limit_w else ""
            memory = f"{_size(g.mem_used, True)}/{_size(g.mem_total, True)}"
            watts = f"{_num(g.power_w):>4}{limit} W"
            tail = f"  {memory:>13} {share:4.0%}  util {util:>4}  {_num(g.temperature_c, unit='°C'):>5}  {watts:>10}"
            head = f"{g.index:>2} {_short(g.name)[:name_width]:<{name_width}}  "
        room = max(width - 1 - len(head) - len(tail), 4)
        return Content.assemble(mark, head, *_bar(room, share, self.get_visual_style, "gpu-pane--bar-"), tail)

    def _show_text(self, snapshot: Snapshot, gpus: Sequence[GpuSample]) -> None:
        self.message.display = snapshot.error is not None
        _put(self.message, Content(f"GPU: {snapshot.error}"))
        alert_lines = [Content.styled(f"{MARK} {a.message}", self._style("gpu-pane--alert")) for a in snapshot.alerts]
        self.alerts.display = bool(alert_lines)
        _put(self.alerts, Content("\n").join(alert_lines))
        hosts = list(dict.fromkeys(g.host for g in gpus))
        multi = len(gpus) > 1
        procs = [(g, p) for g in gpus for p in g.processes]
        procs.sort(key=lambda gp: (hosts.index(gp[0].host), not gp[1].is_server))  # by host, servers first
        rows, host = [], None
        for gpu, proc in procs[:MAX_PROCESS_ROWS]:
            if len(hosts) > 1 and (not rows or gpu.host != host):  # several hosts: a line names each
                host = gpu.host
                name = host or next((h.name for h in snapshot.hosts if h.source is HostSource.NVML), "this host")
                rows.append(Content.styled(name, self._style("gpu-pane--dim")))
            rows.append(self._process_row(gpu, proc, multi))
        if len(procs) > MAX_PROCESS_ROWS:
            more = f"  … {len(procs) - MAX_PROCESS_ROWS} more processes"
            rows.append(Content.styled(more, self._style("gpu-pane--dim")))
        if rows and not self.compact:
            header = _process_cells(" ", "#" if multi else None, "PID", "VRAM") + "PROCESS"
            rows.insert(0, Content.styled(header, self._style("gpu-pane--dim")))
        self.procs.display = bool(rows)
        _put(self.procs, Content("\n").join(rows))
        engine_rows = [row for e in snapshot.engines for row in self._engine_rows(e)]
        self.engines.display = bool(engine_rows)
        _put(self.engines, Content("\n").join(engine_rows))

    def _process_row(self, gpu: GpuSample, proc: GpuProcess, multi: bool) -> Content:
        where = gpu.index if multi else None
        cells = _process_cells("▶" if proc.is_server else " ", where, proc.pid, _size(proc.used_bytes, True))
        what, rest = program(proc.name, proc.cmdline)
        row = Content.assemble(cells, what)
        if not self.compact and rest:
            row = Content.assemble(row, "  ", (rest, self._style("gpu-pane--dim")))
        return row.stylize_before(self._style("gpu-pane--server")) if proc.is_server else row

    def _engine_rows(self, engine: EngineMetrics) -> list[Content]:
        where = urlsplit(engine.url).netloc if self.compact else engine.url
        if engine.error:
            return [Content.styled(f"{where}: {engine.error}", self._style("gpu-pane--error"))]
        if engine.models or engine.engine == "Ollama":
            return self._loaded_rows(engine, where)
        kv = _num(None if engine.kv_cache_usage is None else engine.kv_cache_usage * 100, unit="%")
        figures = (
            f"KV {kv}  run {_num(engine.running)}  wait {_num(engine.waiting)}  "
            f"{_num(engine.gen_tokens_per_s, unit=' tok/s')}"
        )
        extra = []
        if engine.cache_hit_rate is not None:
            extra.append(f"hit {engine.cache_hit_rate:.0%}")
        if engine.preemptions:
            extra.append(f"preempted {engine.preemptions}")
        if engine.context_limit:
            used = f"{_tokens(engine.context_used)}/" if engine.context_used is not None else ""
            extra.append(f"ctx {used}{_tokens(engine.context_limit)}")
        if self.compact:
            return [Content(f"{engine.engine} {where}"), Content(f"  {figures}")] + (
                [Content("  " + "  ".join(extra))] if extra else []
            )
        return [Content("  ".join([f"{engine.engine}  {figures}", *extra, where]))]

    def _loaded_rows(self, engine: EngineMetrics, where: str) -> list[Content]:
        """Ollama: each loaded model, its size and the share of it on the GPU."""
        rows = [Content(f"{engine.engine} {where}" + ("" if engine.models else "  no model loaded"))]
        for model in engine.models:
            share = _num(None if model.gpu_share is None else model.gpu_share * 100, unit="% GPU")
            context = f"  ctx {_tokens(model.context_length)}" if model.context_length else ""
            rows.append(Content(f"  {model.name}  {_size(model.size_bytes, True)}  {share}{context}"))
        return rows


def _tokens(count: int | None) -> str:
    return "–" if count is None else short_tokens(count)
