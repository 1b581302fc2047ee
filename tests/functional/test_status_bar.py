"""The status bar: energy over time (this conversation, this session) from real turns on the recorded H100, the
GPUs a turn's J/token counted, and a line that stays readable at 80 columns with everything on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult

from tests.functional.test_app import send
from tests.support.scripted_server import ScriptedServer
from vt_tui.core.energy import J_PER_WH
from vt_tui.gpu.replay import ReplaySource
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage
from vt_tui.ui.widgets.status_bar import Phase, StatusBar, middle_cut, watt_hours

H100_ALLOC = Path(__file__).parents[1] / "fixtures" / "nvml-h100-alloc.jsonl"


def bar_text(app: App) -> str:
    return str(app.query_one(StatusBar).render())


async def test_energy_of_this_conversation_and_this_session_after_each_turn(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    scripted.default_chunk_delay = 0.03  # a turn long enough to span several samples of the 10 Hz replay
    app = VtApp(
        Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off"),
        sampler_factory=lambda: GpuSampler(ReplaySource(H100_ALLOC, start_at=8.0), hz=10),
    )
    joules: list[float] = []

    def last_turn() -> float:
        assert app.chat_screen.session is not None
        stats = app.chat_screen.session.turns[-1].stats
        assert stats is not None and stats["energy_j"] > 0
        joules.append(stats["energy_j"])
        return stats["energy_j"]

    async with app.run_test(size=(160, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause(0.5)
        assert (app.status.conversation_wh, app.status.session_wh) == (None, None)  # nothing measured yet

        await send(app, pilot, "one two three four five six")
        first = last_turn()
        footer = str(app.query(AssistantMessage).last().footer.render())
        assert footer.endswith(" J/tok on all GPUs")  # the replayed box has no serving process to find
        assert app.status.conversation_wh == app.status.session_wh == pytest.approx(first / J_PER_WH)
        await send(app, pilot, "seven eight nine ten eleven")
        both = first + last_turn()
        assert app.status.conversation_wh == app.status.session_wh == pytest.approx(both / J_PER_WH)
        assert f"conv {watt_hours(both / J_PER_WH)} │ session {watt_hours(both / J_PER_WH)}" in bar_text(app)

        await pilot.press("ctrl+n")  # a new conversation: its own count starts; the session's goes on
        await pilot.pause()
        assert app.status.conversation_wh is None and app.status.session_wh == pytest.approx(both / J_PER_WH)
        await send(app, pilot, "a new topic, quite a few words long")
        third = last_turn()
        assert app.status.conversation_wh == pytest.approx(third / J_PER_WH)
        assert app.status.session_wh == pytest.approx(sum(joules) / J_PER_WH)

        await pilot.press("ctrl+o")  # back to the first conversation: its count is read from the store
        await pilot.pause()
        await pilot.press(*"seven", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.status.conversation_wh == pytest.approx(both / J_PER_WH)
        assert app.status.session_wh == pytest.approx(sum(joules) / J_PER_WH)


class OneBar(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar()


EVERYTHING = dict(
    phase=Phase.IDLE,
    model="Qwen2.5-7B-Instruct",
    figures="TTFT 0.21 s · 128 tok · 41.2 tok/s · 3.3 s · 2.24 J/tok on GPU 0",
    context_tokens=3100,
    speak=True,
    endpoint="http://127.0.0.1:8000/v1",
    conversation_wh=0.31,
    session_wh=12.5,
)


@pytest.mark.parametrize(
    ("width", "kept", "dropped"),
    [
        (200, ["idle", "Qwen2.5-7B-Instruct", "TTFT", "ctx ~3,100 tok", "conv 0.310 Wh", "session 12.50 Wh", "🔊",
               "http://127.0.0.1:8000/v1"], []),
        (160, ["idle", "Qwen2.5-7B-Instruct", "TTFT", "ctx", "conv 0.310 Wh", "session", "🔊"], ["http://"]),
        (80, ["idle", "Qwen2.5-7B-Instruct", "ctx ~3,100 tok", "conv 0.310 Wh", "🔊"], ["http://", "TTFT", "session"]),
        (50, ["idle", "Qwen2.5-7B-Instruct", "ctx ~3,100 tok", "🔊"], ["http://", "TTFT", "session", "conv"]),
        (30, ["idle", "Qwen2.5-7B-Instruct"], ["http://", "TTFT", "session", "conv", "ctx", "🔊"]),
    ],
)  # fmt: skip
async def test_too_narrow_the_status_bar_drops_parts_in_order(width: int, kept: list[str], dropped: list[str]) -> None:
    app = OneBar()
    async with app.run_test(size=(width, 3)) as pilot:
        app.query_one(StatusBar).show(**EVERYTHING)
        await pilot.pause()
        line = app.query_one(StatusBar).render()
        assert line.cell_len <= width, str(line)
        assert all(part in str(line) for part in kept), str(line)
        assert not any(part in str(line) for part in dropped), str(line)


async def test_a_long_message_is_cut_in_the_middle_keeping_its_countdown() -> None:
    """A waiting line at 80 columns: too long with everything else on; the other parts go, then the middle of
    the message, so that both what is waited for and when the next try comes stay on screen."""
    message = "waiting for http://127.0.0.1:8000/v1 (connection refused) — retrying in 4 s"
    app = OneBar()
    async with app.run_test(size=(80, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.show(**EVERYTHING | dict(phase=Phase.WAITING, message=message))
        await pilot.pause()
        shown = app.screen._compositor.render_strips()[0].text  # what the terminal gets
        assert cell_len(shown) == 80
        assert shown.startswith(" waiting  waiting for http://127.0.0.1:8000/v1 (con")
        assert shown.endswith("refused) — retrying in 4 s") and "…" in shown
        assert middle_cut(message, 30) == "waiting for http:/…ying in 4 s" and middle_cut(message, 99) == message
