"""What the main screen looks like at 80×24 and 160×48, and each dialog over it (pytest-textual-snapshot; SVGs in
__snapshots__)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer
from vt_tui.core.store import Store
from vt_tui.gpu.replay import ReplaySource
from vt_tui.gpu.sampler import GpuSampler
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.composer import Composer

FIXTURE = Path(__file__).parent.parent / "fixtures" / "nvml-h100-alloc.jsonl"
REPLY = (
    "Sure — a greeting function 🐍 (中文 too):\n\n```python\ndef greet(name: str) -> str:\n"
    '    return f"Hello, {name}!"\n```\n\n| engine | tok/s |\n|---|---|\n| vLLM | 2,000 |\n| llama.cpp | 120 |\n'
)
STATS = {"ttft_s": 0.08, "duration_s": 1.9, "tokens": 64, "tokens_source": "server", "energy_j": 96.0}


def stored_conversation(data: Path) -> int:
    store = Store(data / "conversations.sqlite3")
    cid = store.create_conversation(title="greeting", model="Qwen2.5-7B-Instruct", endpoint="bench")
    turn = store.add_turn(cid, "Show me a Python greeting function and a table", "Qwen2.5-7B-Instruct", {})
    store.finish_turn(turn, REPLY, "ok", STATS)
    store.close()
    return cid


def frozen_gpu() -> GpuSampler:
    """The recorded H100 at one instant (the allocation held): the same picture on every run.

    The sampler's clock is frozen too: on the wall clock, samples taken on either side of a whole second filled
    one more sparkline slot, and the picture changed from run to run.
    """
    return GpuSampler(ReplaySource(FIXTURE, start_at=9.0, clock=lambda: 0.0), hz=20, clock=lambda: 1_000_000.5)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    with ScriptedServer(models=["Qwen2.5-7B-Instruct"]) as server:
        cid = stored_conversation(tmp_path)
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path), conversation_id=cid,
                    sampler_factory=frozen_gpu)  # fmt: skip

        async def settle(pilot) -> None:
            await asyncio.wait_for(app.ready.wait(), 10)
            await pilot.pause(0.3)
            app.chat_screen.status_bar.show(endpoint="http://127.0.0.1:8000/v1")  # the port changes per run
            app.query_one(Composer).cursor_blink = False  # a blinking cursor would make the picture random
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=settle)


async def opened(app: VtApp, pilot, open_dialog) -> None:
    """Connected, the dialog opened over the chat, nothing blinking."""
    await asyncio.wait_for(app.ready.wait(), 10)
    await pilot.pause(0.2)
    app.chat_screen.status_bar.show(endpoint="http://127.0.0.1:8000/v1")
    app.query_one(Composer).cursor_blink = False  # under the dialog, drawn as it was when the dialog opened
    await open_dialog(app, pilot)
    await pilot.pause(0.2)
    for widget in app.screen.query("Input"):
        widget.cursor_blink = False
    await pilot.pause()


async def model_picker(app: VtApp, pilot) -> None:
    await pilot.press("f2", "b", "e", "t")


async def params_dialog(app: VtApp, pilot) -> None:
    await pilot.press("f11")


async def attach_dialog(app: VtApp, pilot) -> None:
    from vt_tui.ui.screens.attach import AttachScreen

    app.push_screen(AttachScreen())


async def approval_prompt(app: VtApp, pilot) -> None:
    from vt_tui.core.agent import ApprovalRequest
    from vt_tui.ui.screens.approval import approver_for

    request = ApprovalRequest(
        "call_1",
        "web_fetch",
        {"url": "https://example.com/docs/install", "max_chars": 4000},
        "example.com",
        "Fetch a web page and return its text.",
    )
    asyncio.get_running_loop().create_task(approver_for(app.chat_screen)(request))


async def context_dialog(app: VtApp, pilot) -> None:
    """What a message over the window offers (two turns would have to go; the turns are compacted instead)."""
    from vt_tui.core.errors import Overflow, context_overflow
    from vt_tui.core.window import Relief
    from vt_tui.ui.screens.context import ContextScreen

    overflow = Overflow(5210, 4096, reply=64)
    await app.push_screen(ContextScreen(context_overflow(overflow), Relief(overflow, (1, 2), (1, 2, 3))))
    await pilot.pause()  # its first choice focused (on_mount), whatever the load


async def mcp_servers(app: VtApp, pilot) -> None:
    from vt_tui.core.mcp.config import Transport
    from vt_tui.core.mcp.manager import ServerState, ServerStatus, ToolInfo
    from vt_tui.ui.screens.mcp import McpScreen

    tools = (
        ToolInfo("notes__search", "search", "Search the notes. Returns matching lines."),
        ToolInfo("notes__read_file", "read_file", "Read a file of the notes folder, as text; long files are cut."),
    )
    statuses = [
        ServerStatus("notes", Transport.STDIO, "npx -y notes-server /home/me/notes", True, ServerState.READY,
                     tools=tools, seconds=1.25),
        ServerStatus("journal", Transport.STREAMABLE_HTTP, "http://127.0.0.1:8808/mcp", False, ServerState.READY,
                     tools=(ToolInfo("journal__lookup", "lookup", "Look a key up."),), seconds=0.4),
        ServerStatus("git", Transport.STDIO, "uvx mcp-server-git", False, ServerState.FAILED,
                     error="command 'uvx' not found (not a file, or not on PATH)"),
    ]  # fmt: skip
    app.push_screen(McpScreen(lambda: statuses))


@pytest.mark.parametrize(
    "open_dialog", [model_picker, params_dialog, attach_dialog, approval_prompt, context_dialog, mcp_servers]
)
def test_dialog(snap_compare, tmp_path: Path, open_dialog) -> None:
    """Each dialog over the chat at 80×24 (the model picker filtered by a typed letter)."""
    with ScriptedServer(models=["alpha-7b", "beta-70b", "beta-8b-instruct"]) as server:
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path, tools="off"), sampler_factory=frozen_gpu)

        async def run_before(pilot) -> None:
            await opened(app, pilot, open_dialog)

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


PARAGRAPH = (
    "The context window is the number of tokens a model reads at once: the system prompt, every earlier turn that "
    "is still sent, the new message and the reply all have to fit in it. "
)


def long_conversation(data: Path, turns: int, compact: int = 0, paragraphs: int = 6) -> int:
    """A stored conversation of ``turns`` exchanges, the first ``compact`` of them compacted."""
    from vt_tui.core.store import Compaction

    store = Store(data / "conversations.sqlite3")
    cid = store.create_conversation(title="window", model="Qwen2.5-7B-Instruct", endpoint="bench")
    ids = []
    for n in range(turns):
        ids.append(store.add_turn(cid, f"Question {n + 1}: explain the context window again.", "m", {}))
        store.finish_turn(ids[-1], PARAGRAPH * paragraphs, "ok", STATS)
    if compact:
        summary = "The user asked twice what a context window is; it is what the model reads at once, all of it."
        store.add_compaction(cid, Compaction(0, tuple(ids[:compact]), summary, ids[-1], 1630, 24))
    store.close()
    return cid


def window_app(server: ScriptedServer, data: Path, cid: int) -> VtApp:
    """The stored conversation ``cid``, reopened with a 4,096-token window (the ``context_window`` setting)."""
    settings = Settings(base_url=server.base_url, data_dir=data, context_window=4096, tools="off")
    return VtApp(settings, conversation_id=cid, sampler_factory=frozen_gpu)


async def settled(app: VtApp, pilot) -> None:
    """Connected, the history shown, the endpoint's port hidden, nothing blinking."""
    await asyncio.wait_for(app.ready.wait(), 10)
    await pilot.pause(0.3)
    app.chat_screen.status_bar.show(endpoint="http://127.0.0.1:8000/v1")
    app.query_one(Composer).cursor_blink = False


def test_status_bar_near_the_limit(snap_compare, tmp_path: Path) -> None:
    """``ctx ~4.0k / 4k`` in red: the history fills 90 % and more of a 4,096-token window (the setting's)."""
    with ScriptedServer(models=["Qwen2.5-7B-Instruct"]) as server:
        app = window_app(server, tmp_path, long_conversation(tmp_path, 11))

        async def settle(pilot) -> None:
            await settled(app, pilot)
            status = app.chat_screen.status_bar.status
            assert status.context_limit == 4096 and status.context_tokens >= 0.9 * 4096, status
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


@pytest.mark.parametrize("folded", [True, False])
def test_compacted_block(snap_compare, tmp_path: Path, folded: bool) -> None:
    """Two turns compacted: they stay, dimmed; the block after them says what it stands for (folded), or shows the
    summary (unfolded)."""
    from vt_tui.ui.widgets.chat_log import CompactionBlock

    with ScriptedServer(models=["Qwen2.5-7B-Instruct"]) as server:
        app = window_app(server, tmp_path, long_conversation(tmp_path, 3, compact=2, paragraphs=1))

        async def settle(pilot) -> None:
            await settled(app, pilot)
            block = app.query_one(CompactionBlock)
            block.collapsed = folded
            await pilot.pause(0.2)

        assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


THOUGHT = (
    "The user wants a greeting function. Python, typed, an f-string.\n"
    "A table of engine speeds too: vLLM about 2,000 tok/s batched, llama.cpp about 120 on one GPU.\n"
    "Keep it short; code first."
)
THINKING_STATS = {**STATS, "thinking_s": 3.2, "thinking_tokens": 812, "thinking_tokens_source": "server"}


@pytest.mark.parametrize("shown", ["folded", "open"])
def test_thinking_block(snap_compare, tmp_path: Path, shown: str) -> None:
    """A reply's thinking folded to one line above its answer, and opened with Ctrl+T, at 80×24."""
    with ScriptedServer(models=["Qwen3-8B"]) as server:
        store = Store(tmp_path / "conversations.sqlite3")
        cid = store.create_conversation(title="greeting", model="Qwen3-8B", endpoint="bench")
        turn = store.add_turn(cid, "Show me a Python greeting function", "Qwen3-8B", {})
        store.finish_turn(turn, REPLY.split("\n\n|")[0], "ok", THINKING_STATS, thinking=THOUGHT)
        store.close()
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path, tools="off"), conversation_id=cid,
                    sampler_factory=frozen_gpu)  # fmt: skip

        async def settle(pilot) -> None:
            await settled(app, pilot)
            if shown == "open":
                await pilot.press("ctrl+t")
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def searchable(data: Path) -> None:
    """Three conversations with fixed dates: one found by its (renamed) title, two by their messages."""
    store = Store(data / "conversations.sqlite3")
    conversations = [
        ("Docker networking", "How do containers reach each other in docker compose?",
         "Services in one compose file share a network; each reaches the others by service name, e.g. `db:5432`."),
        ("Penguins", "Why do penguins huddle?", "To share warmth; their burrows form no network."),
        ("Home network notes", "hello", "hi"),
    ]  # fmt: skip
    for n, (title, prompt, reply) in enumerate(conversations):
        cid = store.create_conversation(title=title, model="Qwen2.5-7B-Instruct")
        store.finish_turn(store.add_turn(cid, prompt, "Qwen2.5-7B-Instruct", {}), reply, "ok", STATS)
        store.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (1_767_225_600.0 + 3600 * n, cid))
    store.close()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Dates shown in UTC: the same picture in every time zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_search_dialog(snap_compare, tmp_path: Path, utc) -> None:
    """Ctrl+O with "network" typed: a message in a reply, a prompt, and a conversation found by its title only."""
    searchable(tmp_path)
    with ScriptedServer(models=["Qwen2.5-7B-Instruct"]) as server:
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path, tools="off"), sampler_factory=frozen_gpu)

        async def typed(app: VtApp, pilot) -> None:
            await pilot.press("ctrl+o", *"network")
            for _ in range(100):
                if app.screen.shown_for == "network":
                    break
                await pilot.pause(0.05)

        async def run_before(pilot) -> None:
            await opened(app, pilot, typed)

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_a_reply_with_versions_focused(snap_compare, tmp_path: Path) -> None:
    """A reply regenerated twice, its second version on screen ("‹ 2/3 ›"), focused with Alt+Up: marked, and the
    footer offers its keys."""
    model = "Qwen2.5-7B-Instruct"
    with ScriptedServer(models=[model]) as server:
        store = Store(tmp_path / "conversations.sqlite3")
        cid = store.create_conversation(title="rivers", model=model, endpoint="bench")
        first = store.add_turn(cid, "Name three rivers in France.", model, {})
        store.finish_turn(first, "The Loire, the Seine and the Rhône.", "ok", STATS)
        answers = ("The Loire: 1,006 km.", "The **Loire**, at 1,006 km, is the longest river in France.", "Loire.")
        versions = []
        for answer in answers:
            versions.append(store.add_turn(cid, "Which one is the longest?", model, {}, parent_id=first))
            store.finish_turn(versions[-1], answer, "ok", STATS)
        store.set_current_turn(cid, versions[1])
        store.close()
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path, tools="off"), conversation_id=cid,
                    sampler_factory=frozen_gpu)  # fmt: skip

        async def settle(pilot) -> None:
            await settled(app, pilot)
            await pilot.press("alt+up")
            await pilot.pause(0.2)

        assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
