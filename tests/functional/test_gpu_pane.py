"""GpuApp / GpuPane under Pilot, fed by the recorded H100 fixture and by made-up snapshots."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.pilot import Pilot
from textual.widgets import Static

from tests.support.gpu_fleet import fleet, two_exporters
from tests.support.screen import screen_text
from tests.support.scripted_server import ScriptedServer
from vt_tui.gpu.exporters import parse_dcgm
from vt_tui.gpu.models import GIB, MIB, Alert, AlertKind, EngineMetrics, GpuProcess, GpuSample, Snapshot
from vt_tui.gpu.replay import ReplaySource, load_snapshots
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.ui.gpu_app import GpuApp
from vt_tui.ui.widgets.gpu_pane import GPU_PANE_TCSS, GpuCard, GpuPane, HostSection, Spark

FIXTURES = Path(__file__).parents[1] / "fixtures"
H100_ALLOC = FIXTURES / "nvml-h100-alloc.jsonl"
UNAVAILABLE = "No NVIDIA driver found (NVML library missing)"
MATMUL_AT = 9.0  # seconds into the recording: 8 GiB held, matmuls running


def frozen_replay(start_at: float = MATMUL_AT) -> ReplaySource:
    """The recording stopped at one moment: every read gives the same frame."""
    return ReplaySource(H100_ALLOC, start_at=start_at, clock=lambda: 0.0)


def h200(host: str | None, index: int, used_gib: float, util: int, power: float, **kw: object) -> GpuSample:
    return GpuSample(index, "NVIDIA H200", None, int(used_gib * GIB), 140 * GIB, util, 0, 50, power, 700.0, 1980,
                     host=host, **kw)  # fmt: skip


def screen_lines(app: App, path: Path) -> list[str]:
    """Save an SVG screenshot and read its text back, one string per screen row."""
    app.save_screenshot(path.name, str(path.parent))
    rows: dict[int, str] = defaultdict(str)
    pattern = r'<text [^>]*clip-path="url\(#terminal-\d+-line-(\d+)\)">([^<]*)</text>'
    for row, text in re.findall(pattern, path.read_text()):
        rows[int(row)] += html.unescape(text).replace("\xa0", " ")
    return [rows[i] for i in range(max(rows) + 1)] if rows else []


async def until(pilot: Pilot, condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_replay_shows_the_recorded_gpu(size: tuple[int, int], tmp_path: Path) -> None:
    expected = frozen_replay().current().gpus[0]
    app = GpuApp(lambda: GpuSampler(frozen_replay()))
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(GpuPane)
        await until(pilot, lambda: pane.snapshot is not None and app.query(GpuCard))
        await pilot.pause()
        assert not pane.compact
        text = "\n".join(screen_lines(app, tmp_path / f"gpu-app-{size[0]}x{size[1]}.svg"))
    assert "GPU 0  NVIDIA H100 80GB HBM3" in text
    assert f"{expected.mem_used / GIB:.1f} GiB/{expected.mem_total / GIB:.1f} GiB" in text
    assert f"util {expected.util_gpu}%" in text and f"{expected.power_w:.0f} / 700 W" in text
    (holder,) = expected.processes
    assert re.search(rf"{holder.pid}\s+{holder.used_bytes / GIB:.1f}G\s+record_nvml.py  --load-worker", text)
    assert "GPU:" not in text


async def test_unavailable_nvml_is_one_line(tmp_path: Path) -> None:
    app = GpuApp(lambda: GpuSampler(ReplaySource([Snapshot(0.0, error=UNAVAILABLE)])))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(GpuPane)
        await until(pilot, lambda: pane.snapshot is not None)
        await pilot.pause()
        lines = screen_lines(app, tmp_path / "gpu-app-unavailable.svg")
    assert [line.strip() for line in lines if "GPU:" in line] == [f"GPU: {UNAVAILABLE}"]
    assert not app.query(GpuCard)


async def test_updates_reuse_the_widgets() -> None:
    app = GpuApp(lambda: GpuSampler(ReplaySource(H100_ALLOC), hz=20.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.query(Spark)) == 2)
        before = list(app.query(Static)) + list(app.query(Spark))
        shown = app.query_one(GpuPane).snapshot
        await until(pilot, lambda: app.query_one(GpuPane).snapshot is not shown)
        assert list(app.query(Static)) + list(app.query(Spark)) == before


async def test_quitting_stops_the_sampler() -> None:
    app = GpuApp(lambda: GpuSampler(frozen_replay()))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(GpuPane).snapshot is not None)
        await pilot.press("q")
    assert not app.sampler._thread.is_alive()


async def test_the_whole_recording_draws_the_sparklines(tmp_path: Path) -> None:
    app = GpuApp(lambda: GpuSampler(ReplaySource([Snapshot(0.0, error=UNAVAILABLE)]), hz=0.1))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(GpuPane)
        await until(pilot, lambda: pane.snapshot is not None)
        for snapshot in load_snapshots(H100_ALLOC):
            pane.show_snapshot(snapshot)
        await pilot.pause()
        (card,) = app.query(GpuCard)
        assert max(card.util_spark.data) == 100 and min(card.util_spark.data) == 0
        assert card.util_spark.top == 100 and card.vram_spark.top == card.sample.mem_total
        text = "\n".join(screen_lines(app, tmp_path / "gpu-app-recording-80x24.svg"))
    assert "max 8.6G" in text and "max 100%" in text and "GPU:" not in text


class SideColumn(App[None]):
    """The pane as the chat screen has it: a right-hand column at 80×24."""

    CSS_PATH = GPU_PANE_TCSS
    CSS = "#chat { width: 1fr; } GpuPane { width: 36; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("chat", id="chat")
            yield GpuPane()


def two_gpu_snapshot() -> Snapshot:
    first, second = parse_dcgm((FIXTURES / "prom-dcgm.txt").read_text())
    server = GpuProcess(4242, "llama-server", "llama-server -m qwen.gguf --metrics", 70 * GIB, True)
    odd = GpuProcess(4343, "[b]bold?[/b]", "", GIB, False)
    engines = (
        EngineMetrics("http://127.0.0.1:8080/metrics", 0.42, 1, 2, 97.9, engine="llama.cpp"),
        EngineMetrics("http://127.0.0.1:8000/metrics", error="Connection refused"),
    )
    return Snapshot(1000.0, (replace(first, processes=(server,)), replace(second, processes=(odd,))), engines)


async def test_side_column_is_compact_and_text_is_inert(tmp_path: Path) -> None:
    app = SideColumn()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(GpuPane)
        pane.show_snapshot(two_gpu_snapshot())
        await pilot.pause()
        assert pane.compact and [card.size.height for card in app.query(GpuCard)] == [2, 2]
        text = "\n".join(screen_lines(app, tmp_path / "gpu-pane-side-80x24.svg"))
    assert "0 H100 80GB HBM3" in text and "87%" in text and "72.5G/79.6G" in text
    assert "▶" in text and "llama-server" in text
    assert "[b]bold?[/b]" in text
    assert "llama.cpp 127.0.0.1:8080" in text and "KV 42%  run 1  wait 2  98 tok/s" in text
    assert "127.0.0.1:8000: Connection refused" in text


async def test_side_column_wraps_the_unavailable_message(tmp_path: Path) -> None:
    app = SideColumn()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(GpuPane).show_snapshot(Snapshot(0.0, error=UNAVAILABLE))
        await pilot.pause()
        text = " ".join(line.strip() for line in screen_lines(app, tmp_path / "gpu-pane-side-unavailable.svg"))
    assert f"GPU: {UNAVAILABLE}" in text


class Wide(App[None]):
    """The pane alone at any size, fed by hand."""

    CSS_PATH = GPU_PANE_TCSS

    def compose(self) -> ComposeResult:
        yield GpuPane()


async def test_sparklines_are_on_a_true_scale() -> None:
    """A flat 3 % of VRAM and 5 % utilisation stay at the bottom (they used to fill the sparkline)."""
    app = Wide()
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.query_one(GpuPane)
        for t in range(30):
            used = int(0.03 * 80 * GIB) + (t % 3) * MIB  # a few MiB of wobble
            pane.show_snapshot(Snapshot(1000.0 + t, (h200(None, 0, used / GIB, 5, 120.0),)))
        await pilot.pause()
        card = app.query_one(GpuCard)
        rows = [card.vram_spark.render().plain, card.util_spark.render().plain]
    for row in rows:
        assert set(row) <= {"▁", " ", "▂", "\n"}, row  # no bar above a quarter of a cell
        assert "█" not in row


async def test_process_rows_lead_with_the_program(tmp_path: Path) -> None:
    command = "/opt/torch/.venv/bin/python /opt/torch/.venv/bin/transformers serve /tmp/model --port 8011"
    server = GpuProcess(483, "python", command, 4046 * MIB, True)
    sglang = GpuProcess(484, "python3.12", "python3.12 -m sglang.launch_server --model-path m", GIB, True)
    app = Wide()
    async with app.run_test(size=(80, 40)) as pilot:
        pane = app.query_one(GpuPane)
        pane.show_snapshot(Snapshot(1.0, (h200(None, 0, 5, 10, 120.0, processes=(server, sglang)),)))
        await pilot.pause()
        text = "\n".join(screen_lines(app, tmp_path / "procs.svg"))
    assert re.search(r"▶483\s+4.0G\s+transformers serve  /tmp/model --port 8011", text), text
    assert "python -m sglang.launch_server  --model-path m" in text


async def test_a_fleet_is_grouped_by_host_in_rows(tmp_path: Path) -> None:
    app = Wide()
    async with app.run_test(size=(100, 60)) as pilot:
        pane = app.query_one(GpuPane)
        pane.show_snapshot(fleet(hosts=2, per_host=8))
        await pilot.pause()
        assert not app.query(GpuCard)  # 16 GPUs: one row each
        text = "\n".join(screen_lines(app, tmp_path / "fleet.svg"))
        heads = [section.head.render().plain for section in app.query(HostSection)]
    assert heads[0] == "● gpunode-a  dcgm  8 GPUs  546/1120 GiB  2.7 kW  live"
    assert heads[2] == "✗ gpunode-c  unreachable: timed out · last seen 42 s ago"
    assert pane.border_title == "GPU · 3 hosts"
    rows = [line for line in text.splitlines() if "H200" in line]
    assert len(rows) == 16 and all("━" in row and "util" in row for row in rows)


async def test_h_shows_one_host_at_a_time(tmp_path: Path) -> None:
    def sampler() -> GpuSampler:
        recorded = ReplaySource([two_exporters()], clock=lambda: 0.0)
        return GpuSampler(recorded, recorded)  # a recording replays its hosts too

    app = GpuApp(sampler)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.query_one(GpuPane)
        await until(pilot, lambda: pane.snapshot is not None and len(app.query(HostSection)) == 2)
        shown = []
        for _ in range(3):
            await pilot.press("h")
            await pilot.pause()
            shown.append(([s.host_name for s in app.query(HostSection)], pane.border_title))
    assert shown == [
        (["gpubox"], "GPU · gpubox"),
        (["gpunode-b"], "GPU · gpunode-b"),
        (["gpubox", "gpunode-b"], "GPU · 2 hosts"),
    ]


async def test_an_alert_is_marked_while_it_lasts_and_told_once(tmp_path: Path) -> None:
    told: list[str] = []
    app = Wide()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(GpuPane)
        pane.notify = lambda message, **kw: told.append(message)  # what the user would see, counted
        full = h200(None, 0, 135, 90, 300.0)
        alert = Alert(AlertKind.VRAM, None, 0, "GPU 0 VRAM 96% full (135.0/140.0 GiB)", 1.0)
        for t in range(3):
            pane.show_snapshot(Snapshot(10.0 + t, (full,), alerts=(alert,)))
        await pilot.pause()
        card = app.query_one(GpuCard)
        marked = (card.title.render().plain, card.has_class("-alert"), pane.alerts.display)
        pane.show_snapshot(Snapshot(20.0, (full,)))
        await pilot.pause()
        after = (card.title.render().plain, pane.alerts.display)
    assert told == ["GPU 0 VRAM 96% full (135.0/140.0 GiB)"]
    assert marked == ("GPU 0  NVIDIA H200 ⚠", True, True)
    assert after == ("GPU 0  NVIDIA H200", False)


async def test_the_app_tells_each_alert_once_and_a_lost_host_once(scripted: ScriptedServer, tmp_path: Path) -> None:
    """The whole app on two real exporters over HTTP: GPU 0 on gpubox at 97 % VRAM, GPU 1 on gpunode-b at its
    power limit (as recorded), then gpunode-b's exporter stopped (its "last seen N s ago" changes every sample) and
    started again on its port. Sampled at 10 Hz for seconds: one notification per episode, not one per sample, and
    the host's return tells nothing again."""
    from tests.support.metrics_server import MetricsServer, fixture
    from vt_tui.gpu.alerts import AlertState
    from vt_tui.gpu.prometheus import PrometheusSource
    from vt_tui.settings import Settings
    from vt_tui.ui.app import VtApp

    nearly_full = fixture("prom-dcgm.txt").replace("} 74213", "} 79000").replace("} 6784", "} 1997")  # GPU 0: 97 %
    dcgm = MetricsServer({"/metrics": nearly_full}).start()
    nvitop = MetricsServer({"/metrics": fixture("prom-nvitop.txt")}).start()
    no_gpus_here = ReplaySource([Snapshot(0.0, error="No NVIDIA driver found (NVML library missing)")])
    alerts = AlertState(hold_s=0.3, clear_s=1.0)
    app = VtApp(
        Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off"),
        sampler_factory=lambda: GpuSampler(
            no_gpus_here, PrometheusSource([f"{dcgm.root}/metrics", f"{nvitop.root}/metrics"]), hz=10, alerts=alerts
        ),
    )
    told: list[str] = []
    notify = app.notify

    def counted(message: str, **kw: object) -> None:
        if kw.get("title") == "GPU alert":
            told.append(message)
        notify(message, **kw)  # type: ignore[arg-type]

    app.notify = counted  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: bool(app.query(GpuPane)) and bool(told), timeout=10)
            pane = app.query_one(GpuPane)
            await pilot.pause(2.0)  # twenty samples with the VRAM alert in force
            assert told == [
                "GPU 0 @gpubox VRAM 97% full (77.1/79.6 GiB)",
                "GPU 1 @gpunode-b at its power limit (688/700 W)",
            ]
            nvitop.stop()
            await until(pilot, lambda: len(told) == 3, timeout=10)
            await pilot.pause(2.0)  # twenty more samples, each saying how long ago the host was seen
            assert told[2].startswith("gpunode-b unreachable: ") and len(told) == 3
            lost = next(a for a in pane.snapshot.alerts if a.kind is AlertKind.HOST)
            assert lost.message != told[2]  # the words moved on ("last seen N s ago"); the user was told once
            assert "⚠" in screen_text(app)

            back = MetricsServer({"/metrics": fixture("prom-nvitop.txt")}, port=int(nvitop.root.rsplit(":", 1)[1]))
            nvitop = back.start()
            await until(pilot, lambda: not any(a.kind is AlertKind.HOST for a in pane.snapshot.alerts), timeout=10)
            await pilot.pause(0.5)
            assert len(told) == 3  # back: the host's mark goes; GPU 1, still at its limit, is not told again
    finally:
        dcgm.stop()
        nvitop.stop()
