"""The GPU pane: per GPU a VRAM bar, readings and 60-s sparklines; processes; engine rows."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from vt_tui.gpu.models import GIB, MIB, EngineMetrics, GpuProcess, GpuSample, Snapshot

GPU_PANE_TCSS = Path(__file__).with_name("gpu_pane.tcss")
SPARK_WINDOW_S = 60.0
SPARK_SLOT_S = 1.0  # the sparklines keep a true time axis of whole-second slots
SPARK_SLOTS = int(SPARK_WINDOW_S / SPARK_SLOT_S)
WIDE_FROM = 60  # cells; narrower panes show two lines per GPU
GRID_FROM = 140  # cells; wider panes put the GPUs in two columns
TALL_LINES_PER_GPU = 10  # pane height per GPU from which the sparklines grow to three lines


def _num(value: float | None, fmt: str = "{:.0f}", unit: str = "") -> str:
    return "–" if value is None else fmt.format(value) + unit


def _size(size: int | None, compact: bool) -> str:
    """GiB to one decimal, or whole MiB under 1 GiB."""
    if size is not None and size < GIB:
        return f"{size / MIB:.0f}{'M' if compact else ' MiB'}"
    return _num(None if size is None else size / GIB, "{:.1f}", "G" if compact else " GiB")


def _slotted(history: Iterable[tuple[float, float]], now: float) -> list[float]:
    """One value per whole second of the window (max within it, carried over gaps, 0 before any).

    Slots sit on whole seconds, so samples within a second change only the last slot, and an
    unchanged series lets the Sparkline skip its redraw (Sparkline renders cost ~2 ms each).
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
    return f"{mark}{'' if gpu is None else f'{gpu:<2}'}{pid:<8}{used:>5}  "


def _put(static: Static, content: Content) -> None:
    """Update only on change; lay out again only when the number of lines changes."""
    old = static.content
    if isinstance(old, Content) and old.is_same(content):
        return
    relayout = not isinstance(old, Content) or old.plain.count("\n") != content.plain.count("\n")
    static.update(content, layout=relayout)


def _short(name: str) -> str:
    return name.removeprefix("NVIDIA ").removeprefix("GeForce ")


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
        filled = round(room * share)
        used_style = "vram-bar--high" if share >= 0.9 else "vram-bar--used"
        return Content.assemble(
            head,
            ("━" * filled, self.get_visual_style(used_style, partial=True)),
            ("━" * (room - filled), self.get_visual_style("vram-bar--free", partial=True)),
            tail,
        )


class GpuCard(Vertical):
    """One GPU: title (plus brief readings when compact), VRAM bar, then readings and sparklines."""

    def __init__(self) -> None:
        super().__init__(classes="gpu-card")
        self.title = Static(classes="gpu-title")
        self.brief = Static(classes="gpu-brief")
        self.bar = VramBar()
        self.stats = Static(classes="gpu-stats")
        self.vram_spark = Sparkline(classes="vram-spark")
        self.vram_peak = Static(classes="spark-peak")
        self.util_spark = Sparkline(classes="util-spark")
        self.util_peak = Static(classes="spark-peak")
        self.sample: GpuSample | None = None
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
        with Horizontal(classes="spark-row"):
            yield Static("util", classes="spark-label")
            yield self.util_spark
            yield self.util_peak

    def show(self, sample: GpuSample, time: float, compact: bool) -> None:
        """Take a new reading and redraw."""
        self.sample = sample
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
        util, temp = _num(s.util_gpu, unit="%"), _num(s.temperature_c, unit="°C")
        self.bar.set(s.mem_used, s.mem_total, compact)
        if compact:
            _put(self.title, Content(f"{s.index} {_short(s.name)}"))
            _put(self.brief, Content(f" {util:>4} {temp:>5} {_num(s.power_w, unit='W'):>4}"))
            return
        _put(self.title, Content(f"GPU {s.index}  {s.name}" + (f" @{s.host}" if s.host else "")))
        power = _num(s.power_w, unit=" W")
        if s.power_limit_w is not None:
            power = f"{_num(s.power_w)} / {s.power_limit_w:.0f} W"
        clock = _num(s.sm_clock_mhz, unit=" MHz")
        _put(self.stats, Content(f"util {util}  mem io {_num(s.util_mem, unit='%')}  {temp}  {power}  {clock}"))
        now = self._history[-1][0]
        self.vram_spark.data = _slotted(((t, used) for t, used, _ in self._history), now)
        self.util_spark.data = _slotted(((t, util) for t, _, util in self._history), now)
        _put(self.vram_peak, Content(f"max {_size(max(u for _, u, _ in self._history), True)}"))
        _put(self.util_peak, Content(f"max {max(u for _, _, u in self._history):.0f}%"))


class GpuPane(Widget):
    """Shows a Snapshot; holds no logic beyond laying it out. Text from processes stays inert."""

    COMPONENT_CLASSES = {"gpu-pane--server", "gpu-pane--dim", "gpu-pane--error"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "GPU"
        self.message = Static(id="gpu-message")
        self.cards_box = Vertical(id="gpu-cards")
        self.procs = Static(id="gpu-procs")
        self.engines = Static(id="gpu-engines")
        self.snapshot: Snapshot | None = None
        self._cards: dict[tuple[str | None, int], GpuCard] = {}

    def compose(self) -> ComposeResult:
        yield self.message
        yield self.cards_box
        yield self.procs
        yield self.engines

    @property
    def compact(self) -> bool:
        return self.size.width < WIDE_FROM

    def on_resize(self, event: events.Resize) -> None:
        self._fit()
        if self.snapshot is not None:
            for card in self._cards.values():
                card.redraw(self.compact)
            self._show_text(self.snapshot)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Update every part in place (widgets are made only when the set of GPUs changes)."""
        if not self.is_attached:
            return
        self.snapshot = snapshot
        keys = [(g.host, g.index) for g in snapshot.gpus]
        if keys != list(self._cards):
            self.cards_box.remove_children()
            self._cards = {key: GpuCard() for key in keys}
            self.cards_box.mount_all(self._cards.values())
            self._fit()
        for card, sample in zip(self._cards.values(), snapshot.gpus, strict=True):
            card.show(sample, snapshot.time, self.compact)
        self._show_text(snapshot)

    def _fit(self) -> None:
        """Two lines per GPU when narrow; two columns of GPUs, and taller sparklines, where there is room."""
        grid = self.size.width >= GRID_FROM and len(self._cards) > 1
        rows = -(-len(self._cards) // 2) if grid else len(self._cards)
        self.set_class(self.compact, "-compact")
        self.set_class(grid, "-grid")
        self.set_class(not self.compact and self.size.height >= TALL_LINES_PER_GPU * rows + 8, "-tall")

    def _show_text(self, snapshot: Snapshot) -> None:
        self.message.display = snapshot.error is not None
        _put(self.message, Content(f"GPU: {snapshot.error}"))
        multi = len(snapshot.gpus) > 1
        rows = [self._process_row(g.index, p, multi) for g in snapshot.gpus for p in g.processes]
        if rows and not self.compact:
            header = _process_cells(" ", "#" if multi else None, "PID", "VRAM") + "PROCESS"
            rows.insert(0, Content.styled(header, self._style("gpu-pane--dim")))
        self.procs.display = bool(rows)
        _put(self.procs, Content("\n").join(rows))
        engine_rows = [row for e in snapshot.engines for row in self._engine_rows(e)]
        self.engines.display = bool(engine_rows)
        _put(self.engines, Content("\n").join(engine_rows))

    def _style(self, name: str) -> Style:
        return self.get_visual_style(name, partial=True)

    def _process_row(self, gpu: int, proc: GpuProcess, multi: bool) -> Content:
        cells = _process_cells(
            "▶" if proc.is_server else " ", gpu if multi else None, proc.pid, _size(proc.used_bytes, True)
        )
        row = Content.assemble(cells, proc.name)
        if not self.compact and proc.cmdline:
            row = Content.assemble(row, "  ", (proc.cmdline, self._style("gpu-pane--dim")))
        return row.stylize_before(self._style("gpu-pane--server")) if proc.is_server else row

    def _engine_rows(self, engine: EngineMetrics) -> list[Content]:
        where = urlsplit(engine.url).netloc if self.compact else engine.url
        if engine.error:
            return [Content.styled(f"{where}: {engine.error}", self._style("gpu-pane--error"))]
        kv = _num(None if engine.kv_cache_usage is None else engine.kv_cache_usage * 100, unit="%")
        figures = (
            f"KV {kv}  run {_num(engine.running)}  wait {_num(engine.waiting)}  "
            f"{_num(engine.gen_tokens_per_s, unit=' tok/s')}"
        )
        if self.compact:
            return [Content(f"{engine.engine} {where}"), Content(f"  {figures}")]
        return [Content(f"{engine.engine}  {figures}  {where}")]
