"""What the GPU pane looks like (pytest-textual-snapshot; SVGs in __snapshots__): the recorded H100 replayed
in a side column and full screen, two GPUs, and a fleet of hosts, at 80×24 and 160×48.

The pane is fed recorded snapshots in order, with their own timestamps, so the sparklines show the
recording and the picture is the same on every run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Footer, Static

from tests.support.gpu_fleet import NOW, fleet, two_exporters
from vt_tui.gpu.alerts import AlertState
from vt_tui.gpu.models import EngineMetrics, HostSource, HostStatus, Snapshot
from vt_tui.gpu.replay import load_snapshots
from vt_tui.ui.widgets.gpu_pane import GPU_PANE_TCSS, GpuPane

H100_ALLOC = Path(__file__).parents[1] / "fixtures" / "nvml-h100-alloc.jsonl"
HERE = HostStatus("h100-box", HostSource.NVML, None, None, None, 1)
ENGINE = EngineMetrics(
    "http://127.0.0.1:8000/metrics", 0.4231, 3, 1, 512.4, engine="vLLM", cache_hit_rate=0.63, context_used=None,
    context_limit=40960,
)  # fmt: skip


def h100_frames(until_s: float = 12.0) -> list[Snapshot]:
    """The recording up to the matmuls (8 GiB held, 100 % busy at the 700 W limit), with this host's status."""
    frames = load_snapshots(H100_ALLOC)
    start = frames[0].time
    return [replace(f, hosts=(HERE,), engines=(ENGINE,)) for f in frames if f.time - start <= until_s]


def two_gpu_frames() -> list[Snapshot]:
    """Two GPUs from the one recording: GPU 1 replays it 8 s behind GPU 0 (a second GPU at another stage)."""
    frames = h100_frames()
    return [
        replace(f, gpus=(f.gpus[0], replace(frames[max(i - 40, 0)].gpus[0], index=1, uuid="GPU-second", processes=())))
        for i, f in enumerate(frames)
    ]


def fleet_frames() -> list[Snapshot]:
    """This H100 beside two 8-GPU hosts and one lost host, with the alerts a sampler would raise."""
    state = AlertState(hold_s=0.0)
    out = []
    for frame in h100_frames():
        shift = NOW - frame.time
        far = fleet(hosts=2, per_host=8)
        snapshot = Snapshot(
            frame.time, frame.gpus + far.gpus, (ENGINE,),
            hosts=(HERE, *(replace(h, last_seen=h.last_seen - shift if h.last_seen else None) for h in far.hosts)),
        )  # fmt: skip
        out.append(replace(snapshot, alerts=state.update(snapshot)))
    return out


class PaneApp(App[None]):
    """The pane alone (full screen, like `vt-tui gpu`), or in a 36-cell side column (the chat at 80×24)."""

    CSS_PATH = GPU_PANE_TCSS

    def __init__(self, side: bool) -> None:
        super().__init__()
        self.side = side

    def compose(self) -> ComposeResult:
        if self.side:
            with Horizontal():
                yield Static("chat", id="chat")
                yield GpuPane()
        else:
            yield GpuPane()
        yield Footer()

    def on_mount(self) -> None:
        if self.side:
            self.query_one("#chat").styles.width = "1fr"
            self.query_one(GpuPane).styles.width = 36


def fed(frames: list[Snapshot]):
    async def run_before(pilot) -> None:
        pane = pilot.app.query_one(GpuPane)
        pane.notify = lambda *args, **kw: None  # toasts would cover the pane (their own tests are elsewhere)
        for frame in frames:
            pane.show_snapshot(frame)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("side,size", [(True, (80, 24)), (False, (80, 24)), (False, (160, 48))])
def test_h100_replayed(snap_compare, side: bool, size: tuple[int, int]) -> None:
    assert snap_compare(PaneApp(side), terminal_size=size, run_before=fed(h100_frames()))


@pytest.mark.parametrize("side,size", [(True, (80, 24)), (False, (160, 48))])
def test_two_gpus(snap_compare, side: bool, size: tuple[int, int]) -> None:
    assert snap_compare(PaneApp(side), terminal_size=size, run_before=fed(two_gpu_frames()))


@pytest.mark.parametrize("side,size", [(True, (80, 24)), (False, (80, 24)), (False, (160, 48))])
def test_fleet(snap_compare, side: bool, size: tuple[int, int]) -> None:
    assert snap_compare(PaneApp(side), terminal_size=size, run_before=fed(fleet_frames()))


def test_two_exporters(snap_compare) -> None:
    assert snap_compare(PaneApp(False), terminal_size=(160, 48), run_before=fed([two_exporters()]))
