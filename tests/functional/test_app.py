"""The chat app driven with Pilot against the scripted loopback server (real HTTP and SSE)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from textual import events
from textual.command import CommandPalette

from tests.support.screen import run_palette_command, screen_rows, screen_text
from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.screens.picker import PickerScreen
from vt_tui.ui.widgets.chat_log import AssistantMessage, MarkdownView, UserMessage
from vt_tui.ui.widgets.composer import Composer

SIZE = (100, 30)


def make_app(server: ScriptedServer, data: Path, **kw) -> VtApp:
    """The app on the scripted server, plain chat (tool turns are tested in test_agent and test_tool_panel)."""
    return VtApp(Settings(base_url=server.base_url, data_dir=data, tools="off"), **kw)


async def ready(app: VtApp) -> None:
    await asyncio.wait_for(app.ready.wait(), 10)


async def send(app: VtApp, pilot, text: str) -> None:
    app.query_one(Composer).load_text(text)
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def replies(app: VtApp) -> list[AssistantMessage]:
    return list(app.query(AssistantMessage))


async def test_send_streams_reply_and_shows_figures(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(text_reply("Hello **world** from the model.", chunk_delay=0.01))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await send(app, pilot, "hi there")
        assert [w.text for w in app.query(UserMessage)] == ["hi there"]
        reply = replies(app)[-1]
        assert reply.text == "Hello **world** from the model."
        assert "tok/s" in str(reply.footer.render()) and "TTFT" in str(reply.footer.render())
        assert app.status.phase == "idle" and "TTFT" in app.status.figures
        assert scripted.chat_requests[-1]["messages"][-1] == {"role": "user", "content": "hi there"}
    turns = Store(tmp_path / "conversations.sqlite3").turns(1)
    assert turns[0].assistant_text == "Hello **world** from the model." and turns[0].status == "ok"


async def test_escape_cancels_and_keeps_partial_then_retry(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(text_reply(" ".join(f"word{i}" for i in range(300)), chunk_delay=0.02))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.query_one(Composer).load_text("tell me a long story")
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.02)
            if replies(app) and "word3" in replies(app)[-1].text:
                break
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        reply = replies(app)[-1]
        assert reply.text.startswith("word0 word1") and "word299" not in reply.text
        assert "cancelled" in str(reply.footer.render()) and reply.has_class("failed")
        assert [w.text for w in app.query(UserMessage)] == ["tell me a long story"]
        await pilot.press("ctrl+r")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert replies(app)[-1].text == "You said: tell me a long story"
        # a new version of the turn in its place: the cancelled one is kept, a flip away
        assert len(app.query(UserMessage)) == 1 and str(replies(app)[-1].footer.render()).startswith("‹ 2/2 › · ")


async def test_failure_keeps_typed_text_and_shows_one_line_error(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(Reply(status=503, body={"detail": "model is loading"}))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await send(app, pilot, "my precious prompt")
        assert [w.text for w in app.query(UserMessage)] == ["my precious prompt"]
        footer = str(replies(app)[-1].footer.render())
        assert "model is loading" in footer and "Ctrl+R" in footer
        assert app.status.phase == "error" and "\n" not in app.status.message
        assert "Traceback" not in screen_text(app)


async def test_newline_key_and_history_recall(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        composer = app.query_one(Composer)
        await pilot.press("f", "i", "r", "s", "t", "ctrl+j", "l", "i", "n", "e")
        assert composer.text == "first\nline"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert scripted.chat_requests[-1]["messages"][-1]["content"] == "first\nline"
        await send(app, pilot, "second")
        await pilot.press("d", "r", "a", "f", "t")
        await pilot.press("up")
        assert composer.text == "second"
        await pilot.press("up")
        assert composer.text == "first\nline"
        await pilot.press("down")  # cursor is on the last line of the recalled text: go forward
        assert composer.text == "second"
        await pilot.press("down")
        assert composer.text == "draft"


async def test_megabyte_paste_is_accepted_quickly(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    big = ("lorem ipsum dolor sit amet " * 40 + "\n") * 950  # ~1 MB
    async with app.run_test(size=SIZE) as pilot:
        composer = app.query_one(Composer)
        started = time.perf_counter()
        app.post_message(events.Paste(big))  # as the terminal driver delivers it
        await pilot.pause()
        elapsed = time.perf_counter() - started
        assert len(composer.text) == len(big)
        assert elapsed < 10, f"1 MB paste took {elapsed:.1f} s"


async def test_switch_model_from_picker(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.models = ["alpha-7b", "beta-70b"]
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("b", "e", "t", "a", "enter")
        await pilot.pause()
        assert app.status.model == "beta-70b"
        await send(app, pilot, "hello")
        assert scripted.chat_requests[-1]["model"] == "beta-70b"


async def test_palette_export_markdown_and_json(scripted: ScriptedServer, tmp_path: Path, xdg_home: Path) -> None:
    scripted.queue(text_reply("Here:\n\n```python\nprint('hi')\n```\n"))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await send(app, pilot, "show code")
        await run_palette_command(pilot, "Export conversation as Markdown")
        assert not isinstance(app.screen, CommandPalette)
        await pilot.press("f9")
        await pilot.pause()
    exports = sorted((xdg_home / "data" / "vt-tui" / "exports").iterdir())
    assert {p.suffix for p in exports} == {".md", ".json"}, exports
    md = next(p for p in exports if p.suffix == ".md").read_text()
    assert "## You\n\nshow code" in md and "print('hi')" in md
    data = json.loads(next(p for p in exports if p.suffix == ".json").read_text())
    assert data["turns"][0]["user_text"] == "show code" and data["conversation"]["model"] == "scripted-model"


async def test_copy_last_code_block_and_reply(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.queue(text_reply("Try:\n\n```sh\nls -la\n```\n\nand\n\n```py\nx = 1\n```\n"))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await send(app, pilot, "code please")
        await pilot.press("f5")
        assert app.clipboard == "x = 1"
        await pilot.press("f4")
        assert app.clipboard.startswith("Try:") and app.clipboard.rstrip().endswith("x = 1\n```")


async def test_resume_after_restart_sends_history(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await send(app, pilot, "remember 42")
    app = make_app(scripted, tmp_path, resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.pause()
        assert [w.text for w in app.query(UserMessage)] == ["remember 42"]
        assert replies(app)[0].text == "You said: remember 42"
        assert app.status.context_tokens > 0
        await send(app, pilot, "what number?")
    sent = [m["content"] for m in scripted.chat_requests[-1]["messages"] if m["role"] != "system"]
    assert sent == ["remember 42", "You said: remember 42", "what number?"]


async def test_open_conversation_and_new(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await send(app, pilot, "about penguins")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert not app.query(UserMessage)
        await send(app, pilot, "about volcanoes")
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press(*"penguin", "enter")
        await pilot.pause(0.2)
        assert [w.text for w in app.query(UserMessage)] == ["about penguins"]


async def test_clear_context_stops_sending_history(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await send(app, pilot, "one")
        await pilot.press("ctrl+l")
        await send(app, pilot, "two")
    assert [m["content"] for m in scripted.chat_requests[-1]["messages"] if m["role"] != "system"] == ["two"]


@pytest.mark.parametrize(
    "hostile",
    [
        "[bold red]not markup[/bold red] and [link=http://x]y[/link]",
        "bell\x07 clear\x1b[2J title\x1b]0;pwned\x07 osc52\x1b]52;c;aGVsbG8=\x07 csi\x1b[31mred\x1b[0m",
        "c1\x9b31m eight-bit\x9d0;x\x9c",
    ],
)
async def test_model_output_is_inert(scripted: ScriptedServer, tmp_path: Path, hostile: str) -> None:
    scripted.queue(text_reply(hostile, pieces=7))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(app)
        await send(app, pilot, hostile)
        screen = screen_text(app)
        for widget in [*app.query(UserMessage), *app.query(MarkdownView)]:
            shown = str(widget.render()) if isinstance(widget, UserMessage) else widget.source
            assert not any(c in shown for c in "\x1b\x07\x9b\x9d\x9c"), repr(shown)
        if hostile.startswith("[bold"):
            assert "[bold red]not markup[/bold red]" in replies(app)[-1].text
            assert screen.count("[bold red]not markup[/bold red]") >= 2  # user message and reply, verbatim
        assert "pwned" not in app.title and "\x1b]52" not in screen


async def test_emoji_and_cjk_keep_their_width(scripted: ScriptedServer, tmp_path: Path) -> None:
    from rich.cells import cell_len

    text = "宽字符测试 😀👍🏽 日本語テキスト العربية mixed"
    scripted.queue(text_reply(text))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await send(app, pilot, "unicode")
        lines = screen_rows(app)
        widths = {strip.cell_length for strip in lines}
        assert widths == {80}, f"every row must be exactly 80 cells, got {widths}"
        row = next(s.text for s in lines if "宽字符测试" in s.text)
        assert "😀👍🏽" in row and "日本語テキスト" in row
        assert cell_len("宽字符测试") == 10


async def test_gpu_pane_and_joules_per_token_from_recorded_h100(scripted: ScriptedServer, tmp_path: Path) -> None:
    from vt_tui.gpu.replay import ReplaySource
    from vt_tui.gpu.sampler import GpuSampler

    fixture = Path(__file__).parent.parent / "fixtures" / "nvml-h100-alloc.jsonl"
    scripted.queue(text_reply(" ".join(["token"] * 20), chunk_delay=0.05))
    app = VtApp(
        Settings(base_url=scripted.base_url, data_dir=tmp_path),
        sampler_factory=lambda: GpuSampler(ReplaySource(fixture, start_at=8.0), hz=10),
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(app)
        await pilot.pause(0.5)
        assert app.query_one("#side").display
        assert "H100" in screen_text(app)
        await send(app, pilot, "burn some joules")
        footer = str(replies(app)[-1].footer.render())
        assert "J/tok" in footer, footer
    stats = Store(tmp_path / "conversations.sqlite3").turns(1)[0].stats
    assert stats["energy_j"] > 0 and stats["peak_vram_bytes"] > 0


async def test_side_column_hidden_at_80_columns_and_toggled(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        side = app.query_one("#side")
        assert not side.display
        await pilot.press("f3")
        assert side.display
        assert app.query_one(Composer).size.width >= 38


async def test_long_conversation_opens_with_a_page_and_loads_earlier(scripted: ScriptedServer, tmp_path: Path) -> None:
    from vt_tui.ui.widgets.chat_log import HISTORY_PAGE, EarlierMarker

    store = Store(tmp_path / "conversations.sqlite3")
    cid = store.create_conversation(model="scripted-model")
    for i in range(HISTORY_PAGE * 2 + 3):
        store.finish_turn(store.add_turn(cid, f"question {i}", "scripted-model", {}), f"answer {i}", "ok", None)
    app = make_app(scripted, tmp_path, conversation_id=cid)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = [w.text for w in app.query(UserMessage)]
        assert len(shown) == HISTORY_PAGE and shown[-1] == f"question {HISTORY_PAGE * 2 + 2}"
        assert app.query_one(EarlierMarker).count == HISTORY_PAGE + 3
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert len(app.query(UserMessage)) >= HISTORY_PAGE * 2
        for _ in range(3):
            await pilot.press("ctrl+end", "ctrl+home")
            await pilot.pause()
        assert next(w.text for w in app.query(UserMessage)) == "question 0"
        assert not app.query(EarlierMarker)


async def test_tool_call_shows_in_panel_and_survives_resume(scripted: ScriptedServer, tmp_path: Path) -> None:
    from tests.support.scripted_server import tool_call_reply
    from vt_tui.ui.widgets.tool_panel import ToolPanel

    scripted.queue(tool_call_reply([("call_1", "calculator", '{"expression": "17*23"}')]), text_reply("It is 391."))
    settings = Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="native")
    app = VtApp(settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(app)
        await send(app, pilot, "what is 17*23?")
        calls = app.query_one(ToolPanel).calls
        assert [(c.name, c.status) for c in calls] == [("calculator", "ok")] and "391" in (calls[0].result or "")
        assert replies(app)[-1].text == "It is 391."
        tool_message = scripted.chat_requests[-1]["messages"][-1]
        assert tool_message["role"] == "tool" and "391" in tool_message["content"]
    app = VtApp(settings, resume=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(app)
        await pilot.pause()
        assert [c.name for c in app.query_one(ToolPanel).calls] == ["calculator"]


async def test_persona_sets_system_params_greeting_and_quick_prompts(scripted: ScriptedServer, tmp_path: Path) -> None:
    from vt_tui.core.personas import load_personas

    coder = load_personas().get("coder")
    app = VtApp(Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off", persona="coder"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.pause()
        assert coder.greeting in screen_text(app).replace("\n", " ") or coder.greeting[:20] in screen_text(app)
        await pilot.press("1")  # the persona's first example prompt, sent while the composer is empty
        await pilot.pause()
        await app.workers.wait_for_complete()
        body = scripted.chat_requests[-1]
        assert body["messages"][0] == {"role": "system", "content": coder.system}
        assert body["messages"][-1]["content"] == coder.examples[0]
        assert body["temperature"] == coder.temperature
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press(*"translator", "enter")
        await pilot.pause()
        await send(app, pilot, "Bonjour")
        assert scripted.chat_requests[-1]["messages"][0]["content"] == load_personas().get("translator").system
    info = Store(tmp_path / "conversations.sqlite3").list_conversations()
    assert {c.persona for c in info} == {"coder", "translator"}


async def test_params_dialog_changes_the_request(scripted: ScriptedServer, tmp_path: Path) -> None:
    from textual.widgets import Input

    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("f11")
        await pilot.pause()
        inputs = list(app.screen.query(Input))
        assert inputs, "the parameters dialog should be open"
        inputs[0].value = "0.25"  # temperature
        await pilot.press("ctrl+s")
        await pilot.pause()
        await send(app, pilot, "hi")
        assert scripted.chat_requests[-1]["temperature"] == 0.25


async def test_keys_arriving_in_one_burst_are_sent_whole(scripted: ScriptedServer, tmp_path: Path) -> None:
    """As over a laggy SSH link: characters and Enter arrive together; Enter must not overtake them."""
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        text = "What is the capital of France?"
        for char in text:
            app.post_message(events.Key(char, char))  # as the terminal driver delivers keys
        app.post_message(events.Key("enter", "\r"))
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert scripted.chat_requests[-1]["messages"][-1]["content"] == text
        assert app.query_one(Composer).text == ""


async def test_shrinking_to_80_columns_gives_the_chat_the_screen(scripted: ScriptedServer, tmp_path: Path) -> None:
    """From a wide terminal to 80×24 the layout is the one a fresh 80×24 start gets (not a 16-column chat)."""
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(app)
        side, chat = app.query_one("#side"), app.query_one("#chat-column")
        assert side.display and side.has_class("wide") and side.outer_size.width == 64
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        assert not side.display and not side.has_class("wide")
        assert chat.outer_size.width == 80
        await pilot.press("f3")  # asked for: the narrow side column
        await pilot.pause()
        assert side.display and side.outer_size.width == 38 and chat.outer_size.width == 80 - 38
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.1)
        assert side.display and side.has_class("wide") and chat.outer_size.width == 160 - 64


async def test_palette_screenshot_without_a_downloads_folder(
    scripted: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh account over SSH has no ~/Downloads: the screenshot goes to vt-tui's data folder, and says where."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Screenshot")
        await pilot.pause(0.3)
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.05)
            if any("creenshot" in str(n.message) for n in app._notifications):
                break
        messages = [str(n.message) for n in app._notifications]
    saved = list((tmp_path / "data" / "vt-tui" / "screenshots").glob("*.svg"))
    assert len(saved) == 1 and "<svg" in saved[0].read_text(), messages
    assert any(str(saved[0]) in message for message in messages), messages
    assert not (home / "Downloads").exists()


async def test_screenshot_goes_to_downloads_when_there_is_one(
    scripted: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.deliver_screenshot()
        for _ in range(50):
            await pilot.pause(0.05)
            if list((home / "Downloads").glob("*.svg")):
                break
    assert len(list((home / "Downloads").glob("*.svg"))) == 1


async def test_a_modal_s_own_escape_binding_runs(scripted: ScriptedServer, tmp_path: Path) -> None:
    """The chat's Esc (cancel) must not run over a dialog: each dialog's own Esc decides what Esc means there."""
    from textual.binding import Binding
    from textual.screen import ModalScreen
    from textual.widgets import Label

    class Probe(ModalScreen[str]):
        BINDINGS = [Binding("escape", "escape_pressed", "Back")]

        def compose(self):
            yield Label("probe")

        def action_escape_pressed(self) -> None:
            self.dismiss("own escape")

    answers: list[str | None] = []
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.push_screen(Probe(), answers.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert answers == ["own escape"]


async def test_each_dialog_s_escape_closes_it_with_its_own_answer(scripted: ScriptedServer, tmp_path: Path) -> None:
    from vt_tui.core.agent import ApprovalRequest
    from vt_tui.ui.screens.approval import ApprovalScreen, approver_for
    from vt_tui.ui.screens.attach import AttachScreen
    from vt_tui.ui.screens.params import ParamsScreen
    from vt_tui.ui.screens.search import SearchScreen

    scripted.models = ["alpha-7b", "beta-70b"]
    app = make_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        params = app.chat_screen.session.params
        for key, dialog in (("f2", PickerScreen), ("f11", ParamsScreen), ("ctrl+o", SearchScreen)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, dialog), key
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is app.chat_screen, key
        assert app.status.model == "alpha-7b" and app.chat_screen.session.params is params
        attached: list[str | None] = []
        app.push_screen(AttachScreen(), attached.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert attached == [None]
        request = ApprovalRequest("c1", "web_fetch", {"url": "https://example.com/"}, "example.com", "Read a page.")
        answer = asyncio.create_task(approver_for(app.chat_screen)(request))
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        await pilot.press("escape")
        assert await asyncio.wait_for(answer, 5) == "deny"


@pytest.mark.parametrize(("tools", "shown"), [("off", False), ("native", True)])
async def test_the_tool_panel_takes_room_only_when_tools_are_on(
    scripted: ScriptedServer, tmp_path: Path, tools: str, shown: bool
) -> None:
    from vt_tui.ui.widgets.gpu_pane import GpuPane
    from vt_tui.ui.widgets.tool_panel import ToolPanel

    app = VtApp(Settings(base_url=scripted.base_url, data_dir=tmp_path, tools=tools))
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(app)
        await pilot.pause()
        side = app.query_one("#side")
        assert app.query_one(ToolPanel).display is shown
        gpu = app.query_one(GpuPane).outer_size.height
        assert gpu == side.size.height if not shown else gpu < side.size.height * 2 // 3
        assert ("Tools" in screen_text(app)) is shown


async def test_escape_withdraws_a_prompt_still_waiting_for_the_endpoint(tmp_path: Path) -> None:
    """Nothing listens yet: the prompt waits; Esc takes it back into the composer, and the status bar says
    nothing is waiting any more."""
    from tests.support.ports import closed_port

    app = VtApp(Settings(base_url=f"http://127.0.0.1:{closed_port()}/v1", data_dir=tmp_path, tools="off"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        app.query_one(Composer).load_text("hello?")
        await pilot.press("enter")
        await pilot.pause()
        assert [w.text for w in app.query(UserMessage)] == ["hello?"] and app.chat_screen.turn_running
        await pilot.press("escape")
        for _ in range(100):  # the connect worker goes on retrying: wait for the turn's worker alone
            if not app.chat_screen.turn_running:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        assert not app.query(UserMessage) and not app.chat_screen.turn_running
        assert app.query_one(Composer).text == "hello?"
        status = app.chat_screen.status_bar.status
        assert status.phase == "waiting" and "(connection refused) — retrying in" in status.message
