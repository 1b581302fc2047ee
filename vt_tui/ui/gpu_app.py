"""`vt-tui gpu`: the GPU pane full screen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from vt_tui.gpu.models import Snapshot
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.settings import Settings
from vt_tui.ui.widgets.gpu_pane import GPU_PANE_TCSS, GpuPane


class GpuApp(App[None]):
    """A standalone GPU monitor around a sampler made by `sampler_factory` (started on mount)."""

    CSS_PATH = GPU_PANE_TCSS
    TITLE = "vt-tui gpu"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, sampler_factory: Callable[[], GpuSampler]) -> None:
        super().__init__()
        self._sampler_factory = sampler_factory
        self.sampler: GpuSampler | None = None

    def compose(self) -> ComposeResult:
        yield GpuPane(id="gpu-pane")
        yield Footer()

    def on_mount(self) -> None:
        pane = self.query_one(GpuPane)
        self.sampler = self._sampler_factory()
        self.sampler.subscribe(lambda snapshot: self._deliver(pane, snapshot))
        self.sampler.start()

    def _deliver(self, pane: GpuPane, snapshot: Snapshot) -> None:
        """On the sampler thread: hand the snapshot to the UI thread."""
        with suppress(RuntimeError):  # the app has stopped
            self.call_from_thread(pane.show_snapshot, snapshot)

    async def on_unmount(self) -> None:
        if self.sampler is not None:
            # Off the UI thread: the sampler may be waiting in call_from_thread for this loop.
            await asyncio.to_thread(self.sampler.stop)


def run(settings: Settings, replay: Path | None = None) -> int:
    """`vt-tui gpu [--replay FILE]`."""
    from vt_tui.gpu.factory import make_sampler

    GpuApp(lambda: make_sampler(settings.gpu_rate, settings.metrics_urls, replay)).run()
    return 0
