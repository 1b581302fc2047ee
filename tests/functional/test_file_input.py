"""Text files and long pastes in the app, driven with Pilot against the scripted server (which records every request
body): /file and @path attach files, the completion list picks them, a long paste becomes a chip, chips are removed
or put back as text, bad files are refused in one line, and files are sent again in later turns and after resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual import events

from tests.functional.test_image_input import notes, submit
from tests.support.screen import run_palette_command, screen_text
from tests.support.scripted_server import ScriptedServer
from vt_tui.core.attachments import human_size
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.screens.attach import AttachScreen
from vt_tui.ui.widgets.chat_log import UserMessage
from vt_tui.ui.widgets.composer import Chip, Composer

SIZE = (100, 30)
NOTES = "We meet at noon.\nBring the slides.\n"
BLOCK = f"notes.md\n```md\n{NOTES}```"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory @path completes from: notes.md, a src/ folder, a binary file."""
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "notes.md").write_text(NOTES, encoding="utf-8")
    (work / "src" / "app.py").write_text("print('hi')\n", encoding="utf-8")
    (work / "src" / "util.py").write_text("X = 1\n", encoding="utf-8")
    (work / "data.bin").write_bytes(b"\x00\x01\x02")
    monkeypatch.chdir(work)
    return work


def text_app(server: ScriptedServer, data: Path, **kw) -> VtApp:
    """The scripted server as a generic endpoint: no vision, which text files do not need."""
    settings = kw.pop("settings", {})
    return VtApp(Settings(base_url=server.base_url, data_dir=data, tools="off", **settings), **kw)


def sent_user(server: ScriptedServer) -> list:
    return [m["content"] for m in server.chat_requests[-1]["messages"] if m["role"] == "user"]


def chips(composer: Composer) -> list[str]:
    return [str(chip.render()) for chip in composer.chips.query(Chip)]


async def settle(pilot, app: VtApp) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_file_command_sends_the_block_and_every_later_turn_and_resume_sends_it_again(
    scripted: ScriptedServer, tmp_path: Path, folder: Path
) -> None:
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await submit(app, pilot, "/file notes.md\nWhen do we meet?")
        assert sent_user(scripted) == [f"{BLOCK}\n\nWhen do we meet?"]
        shown = app.query_one(UserMessage)
        assert shown.text == "When do we meet?"
        assert str(shown.render()).endswith(f"📎 notes.md · 2 lines · {len(NOTES)} B")
        assert app.query_one(Composer).attachments == [] and not chips(app.query_one(Composer))
        await submit(app, pilot, "And what to bring?")
        assert sent_user(scripted) == [f"{BLOCK}\n\nWhen do we meet?", "And what to bring?"]
    (first, _) = Store(tmp_path / "conversations.sqlite3").turns(1)
    assert [(a.name, a.mime, a.width, a.height, a.data) for a in first.attachments] == [
        ("notes.md", "text/markdown", 0, 0, NOTES.encode())
    ]

    (folder / "notes.md").write_text("changed since", encoding="utf-8")  # what was sent is what is stored
    app = text_app(scripted, tmp_path, resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        assert f"📎 notes.md · 2 lines · {len(NOTES)} B" in str(app.query(UserMessage).first().render())
        await submit(app, pilot, "Remind me?")
        assert sent_user(scripted) == [f"{BLOCK}\n\nWhen do we meet?", "And what to bring?", "Remind me?"]


async def test_bad_files_are_refused_in_one_line_and_the_text_stays(
    scripted: ScriptedServer, tmp_path: Path, folder: Path
) -> None:
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.query_one(Composer)
        for typed, said in [
            ("/file data.bin\nwhat is it?", "data.bin is binary (a NUL byte at byte 0)"),
            ("what is @data.bin?", "data.bin is binary (a NUL byte at byte 0)"),
            ("/file src\nlook", "src is a folder"),
            ("/file nowhere.txt\nlook", "nowhere.txt: No such file or directory"),
        ]:
            app.clear_notifications()
            await submit(app, pilot, typed)
            assert said in notes(app) and notes(app).count("\n") == 0
            assert composer.text == typed and composer.attachments == []
        assert not scripted.chat_requests and not app.query(UserMessage)
        await submit(app, pilot, "ask @alice and me@example.com about @src/, please")  # no file: words
        assert sent_user(scripted) == ["ask @alice and me@example.com about @src/, please"]


async def test_at_path_completes_from_the_working_directory_and_attaches_on_send(
    scripted: ScriptedServer, tmp_path: Path, folder: Path
) -> None:
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        composer = app.query_one(Composer)
        completions = composer.completions
        await pilot.press(*"explain @")
        await settle(pilot, app)
        assert completions.display and completions.paths == ("data.bin", "notes.md", "src/")
        await pilot.press("s")
        await settle(pilot, app)
        assert completions.paths == ("src/",)
        await pilot.press("tab")  # a folder: its entries are offered next
        await settle(pilot, app)
        assert composer.text == "explain @src/" and completions.paths == ("src/app.py", "src/util.py")
        await pilot.press("down", "enter")  # Enter picks while the list is open: nothing is sent
        await settle(pilot, app)
        assert composer.text == "explain @src/util.py " and not completions.display and not scripted.chat_requests
        await pilot.press(*"and @no")
        await settle(pilot, app)
        assert completions.paths == ("notes.md",)
        await pilot.press("escape")  # closes the list, keeps the text
        await settle(pilot, app)
        assert not completions.display and composer.text == "explain @src/util.py and @no"
        await pilot.press(*"tes.md.", "enter")
        await settle(pilot, app)
        (sent,) = sent_user(scripted)
        assert sent == f"src/util.py\n```py\nX = 1\n```\n\n{BLOCK}\n\nexplain @src/util.py and @notes.md."
        assert "📎 src/util.py · 1 line · 6 B\n📎 notes.md · 2 lines" in str(app.query_one(UserMessage).render())


async def test_completion_offers_nothing_when_nothing_matches(
    scripted: ScriptedServer, tmp_path: Path, folder: Path
) -> None:
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        completions = app.query_one(Composer).completions
        await pilot.press(*"@zz")
        await settle(pilot, app)
        assert not completions.display
        await pilot.press("enter")  # sends: nothing was offered
        await settle(pilot, app)
        assert sent_user(scripted) == ["@zz"]


def paste(app: VtApp, text: str) -> None:
    """What a terminal's bracketed paste becomes: a Paste event for the focused widget, each newline sent as CR (as
    xterm and tmux send it: the Enter key's byte)."""
    app.post_message(events.Paste(text.replace("\n", "\r")))


async def test_a_long_paste_becomes_a_chip_and_is_sent_as_a_block(scripted: ScriptedServer, tmp_path: Path) -> None:
    log = "".join(f"line {n}: all good\n" for n in range(1, 41))
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        composer = app.query_one(Composer)
        paste(app, "short\npaste\n")
        await settle(pilot, app)
        assert composer.text == "short\npaste\n" and not composer.attachments, "30 lines or fewer: typed in"
        composer.clear()
        paste(app, log)
        await settle(pilot, app)
        assert composer.text == "" and chips(composer) == [f"📎 pasted · 40 lines · {human_size(len(log))}"]
        assert "📎 pasted · 40 lines" in screen_text(app)
        await pilot.press(*"what failed?", "enter")
        await settle(pilot, app)
        assert sent_user(scripted) == [f"pasted\n```\n{log}```\n\nwhat failed?"]
        assert "📎 pasted · 40 lines" in str(app.query_one(UserMessage).render())
        paste(app, log)
        await settle(pilot, app)
        await pilot.press("enter")  # the chip alone: the paste is the message
        await settle(pilot, app)
        assert sent_user(scripted)[-1] == f"pasted\n```\n{log}```\n\n"


async def test_chips_are_removed_or_put_back_as_text(scripted: ScriptedServer, tmp_path: Path, folder: Path) -> None:
    log = "x\n" * 31
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        composer = app.query_one(Composer)
        await submit(app, pilot, "/file notes.md")  # waits for the prompt
        paste(app, log)
        paste(app, log + "y\n")
        await settle(pilot, app)
        assert [a.name for a in composer.attachments] == ["notes.md", "pasted", "pasted 2"]
        await pilot.press("shift+tab")  # from the composer to the last chip
        await settle(pilot, app)
        assert isinstance(app.focused, Chip) and app.focused.attachment.name == "pasted 2"
        assert "As text" in screen_text(app) and "Remove" in screen_text(app)  # the footer shows the chip's keys
        await pilot.press("left", "left", "delete")  # notes.md goes; the focus stays on the chips
        await settle(pilot, app)
        assert [a.name for a in composer.attachments] == ["pasted", "pasted 2"]
        assert isinstance(app.focused, Chip) and app.focused.attachment.name == "pasted"
        await pilot.press("enter")  # back into the composer as text
        await settle(pilot, app)
        assert composer.text == log and [a.name for a in composer.attachments] == ["pasted 2"]
        assert app.focused is composer
        await pilot.press("shift+tab", "backspace")
        await settle(pilot, app)
        assert composer.attachments == [] and app.focused is composer and not composer.chips.display
        await pilot.press("enter")
        await settle(pilot, app)
        assert sent_user(scripted) == [log.strip()]


async def test_a_paste_too_large_to_attach_is_typed_in_with_a_word(scripted: ScriptedServer, tmp_path: Path) -> None:
    huge = ("y" * 1023 + "\n") * 600  # 600 KB: over the 512 KB a text attachment may weigh
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        paste(app, huge)
        await settle(pilot, app)
        composer = app.query_one(Composer)
        assert composer.text == huge and composer.attachments == []
        assert notes(app) == "paste not attached: pasted is 600.0 KB; the limit is 512.0 KB: pasted as text instead"


async def test_paste_chip_lines_zero_keeps_every_paste_in_the_composer(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    app = text_app(scripted, tmp_path, settings={"paste_chip_lines": 0})
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        paste(app, "x\n" * 100)
        await settle(pilot, app)
        composer = app.query_one(Composer)
        assert composer.text == "x\n" * 100 and composer.attachments == []


async def test_palette_attach_text_file(scripted: ScriptedServer, tmp_path: Path, folder: Path) -> None:
    app = text_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await run_palette_command(pilot, "Attach text file")
        assert isinstance(app.screen, AttachScreen) and "Attach text file (UTF-8, up to 512.0 KB)" in screen_text(app)
        await pilot.press(*"data.bin", "enter")
        await pilot.pause()
        assert "data.bin is binary" in notes(app) and app.query_one(Composer).attachments == []
        await run_palette_command(pilot, "Attach text file")
        await pilot.press(*"no", "right", "enter")  # → accepts the completion
        await pilot.pause()
        assert [a.name for a in app.query_one(Composer).attachments] == ["notes.md"]
