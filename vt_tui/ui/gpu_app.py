"""`vt-tui gpu`: the GPU pane full screen, or one snapshot as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from vt_tui.gpu.models import Snapshot
from vt_tui.gpu.replay import SnapshotRecorder
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.settings import Settings
from vt_tui.ui.widgets.gpu_pane import GPU_PANE_TCSS, GpuPane


class GpuApp(App[None]):
    """A standalone GPU monitor around a sampler made by `sampler_factory` (started on mount).

    `host` starts the pane on one host of a fleet; `record` appends every snapshot to a JSONL file.
    """

    CSS_PATH = GPU_PANE_TCSS
    TITLE = "vt-tui gpu"
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("h", "cycle_host", "Hosts")]

    def __init__(
        self,
        sampler_factory: Callable[[], GpuSampler],
        *,
        host: str | None = None,
        record: Path | None = None,
    ) -> None:
        super().__init__()
        self._sampler_factory = sampler_factory
        self._host = host
        self._record = record
        self._recorder: SnapshotRecorder | None = None
        self.sampler: GpuSampler | None = None

    def compose(self) -> ComposeResult:
        yield GpuPane(id="gpu-pane", host=self._host)
        yield Footer()

    def on_mount(self) -> None:
        pane = self.query_one(GpuPane)
        self.sampler = self._sampler_factory()
        if self._record is not None:
            self._recorder = SnapshotRecorder(self._record)
            self.sampler.subscribe(self._recorder)
        self.sampler.subscribe(lambda snapshot: self._deliver(pane, snapshot))
        self.sampler.start()

    def action_cycle_host(self) -> None:
        self.query_one(GpuPane).action_cycle_host()

    def _deliver(self, pane: GpuPane, snapshot: Snapshot) -> None:
        """On the sampler thread: hand the snapshot to the UI thread."""
        with suppress(RuntimeError):  # the app has stopped
            self.call_from_thread(pane.show_snapshot, snapshot)

    async def on_unmount(self) -> None:
        if self.sampler is not None:
            # Off the UI thread: the sampler may be waiting in call_from_thread for this loop.
            await asyncio.to_thread(self.sampler.stop)
        if self._recorder is not None:
            self._recorder.close()


def run(
    settings: Settings,
    replay: Path | None = None,
    *,
    record: Path | None = None,
    host: str | None = None,
    as_json: bool = False,
) -> int:
    """`vt-tui gpu [--replay FILE] [--record FILE] [--host NAME] [--json]`."""
    from vt_tui.gpu.factory import make_sampler

    def factory() -> GpuSampler:
        return make_sampler(settings.gpu_rate, settings.metrics_urls, replay)

    if as_json:
        snapshot = asyncio.run(factory().snapshot_once())
        json.dump(snapshot.to_dict(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    GpuApp(factory, host=host, record=record).run()
    return 0
