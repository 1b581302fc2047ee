"""No exception ends the app: a worker that raises is shown in one line, its traceback goes to the log, and the
app goes on (issue 12). Workers run with ``exit_on_error=False``; their failures reach one handler."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from tests.support.screen import screen_text
from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage
from vt_tui.ui.widgets.composer import Composer
from vt_tui.ui.widgets.voice_bar import VoiceBar

UI = Path(__file__).parents[2] / "vt_tui" / "ui"
SIZE = (100, 30)


def test_every_worker_in_the_ui_leaves_failures_to_the_handler() -> None:
    """``@work(...)`` and ``run_worker(...)`` all pass ``exit_on_error=False`` (the default ends the app)."""
    found = []
    for path in UI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("work", "run_worker"):
                found.append(f"{path.name}:{node.lineno}")
                flags = {k.arg: k.value for k in node.keywords}
                value = flags.get("exit_on_error")
                assert isinstance(value, ast.Constant) and value.value is False, f"{path.name}:{node.lineno}"
    assert len(found) >= 6, found  # connect, GPU, turn, three voice steps, thumbnails


def log_text(xdg_home: Path) -> str:
    return (xdg_home / "state" / "vt-tui" / "vt-tui.log").read_text(encoding="utf-8")


def failures(app: VtApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications if n.severity == "error"]


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_an_app_worker_that_raises_is_reported_and_the_app_goes_on(
    scripted: ScriptedServer, tmp_path: Path, xdg_home: Path
) -> None:
    def broken_gpu() -> GpuSampler:
        raise RuntimeError("NVML exploded\nwith a second line")

    scripted.queue(text_reply("Still here."))
    app = VtApp(Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off"), sampler_factory=broken_gpu)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await until(lambda: failures(app))
        assert failures(app) == [
            f"starting the GPU pane failed: RuntimeError: NVML exploded — details in {xdg_home}/state/vt-tui/vt-tui.log"
        ]
        app.query_one(Composer).load_text("are you alive?")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query(AssistantMessage).last().text == "Still here."
        assert app.is_running
    log = log_text(xdg_home)
    assert "starting the GPU pane failed" in log and "Traceback" in log and "with a second line" in log


async def test_a_widget_worker_that_raises_reaches_the_same_handler(
    scripted: ScriptedServer, tmp_path: Path, xdg_home: Path
) -> None:
    async def boom() -> None:
        raise ValueError("the microphone caught fire")

    app = VtApp(Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off"))
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        app.query_one(VoiceBar).run_worker(boom, exit_on_error=False, description="recording")
        await until(lambda: failures(app))
        await pilot.pause()
        assert failures(app)[0].startswith("recording failed: ValueError: the microphone caught fire — details in")
        assert app.is_running and "Traceback" not in screen_text(app)
    assert "ValueError: the microphone caught fire" in log_text(xdg_home)


async def test_a_turn_that_raises_is_marked_and_the_app_goes_on(
    scripted: ScriptedServer, tmp_path: Path, xdg_home: Path
) -> None:
    """A bug in the core under the turn (the figures at its end raise): the turn stops with the reason in its
    footer and the status bar, the prompt stays on screen, and the app keeps answering. (A store that fails is
    no such bug any more: the turn goes on in memory, tests/functional/test_store_faults.py.)"""

    def broken_figures(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug in the figures")

    app = VtApp(Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off"))
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        session = app.chat_screen.session
        session._stats = broken_figures  # an instance attribute over the method
        app.query_one(Composer).load_text("this turn meets a bug")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        reply = app.query(AssistantMessage).last()
        assert reply.has_class("failed") and "ZeroDivisionError" in str(reply.footer.render())
        assert app.status.phase == "error" and "the turn stopped" in app.status.message
        assert any(m.startswith("the turn failed: ZeroDivisionError") for m in failures(app)), failures(app)
        assert "this turn meets a bug" in screen_text(app)
        assert app.is_running
        del session._stats  # the bug fixed: the method again
        app.query_one(Composer).load_text("and the next one")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.query(AssistantMessage).last().has_class("failed")
    assert "ZeroDivisionError: a bug in the figures" in log_text(xdg_home)
