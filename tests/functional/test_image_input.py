"""Image input, driven with Pilot against the scripted server: /image, the palette, no-vision refusal, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.screen import run_palette_command
from tests.support.scripted_server import ScriptedServer
from tests.unit.test_attachments import png
from vt_tui.core import attachments
from vt_tui.core.store import Store
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.screens.attach import AttachScreen
from vt_tui.ui.widgets.chat_log import UserMessage
from vt_tui.ui.widgets.composer import Chip, Composer

SIZE = (100, 30)


def vision_app(server: ScriptedServer, data: Path, **kw) -> VtApp:
    """``--engine vllm``: a profile with vision, forced over the detected generic one."""
    return VtApp(Settings(base_url=server.base_url, data_dir=data, engine="vllm", tools="off"), **kw)


async def submit(app: VtApp, pilot, text: str) -> None:
    await asyncio.wait_for(app.ready.wait(), 10)
    app.query_one(Composer).load_text(text)
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def notes(app: VtApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


def picture(tmp_path: Path, name: str = "cat.png") -> Path:
    path = tmp_path / name
    path.write_bytes(png(4, 3))
    return path


async def test_image_command_sends_an_image_part(scripted: ScriptedServer, tmp_path: Path) -> None:
    path = picture(tmp_path)
    app = vision_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await submit(app, pilot, f"/image {path}\nwhat is this?")
        image = attachments.load(path)
        assert scripted.chat_requests[-1]["messages"][-1] == {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": image.data_url()}},
            ],
        }
        assert image.data_url().startswith("data:image/png;base64,iVBORw0KGgo")
        shown = app.query_one(UserMessage)
        assert shown.text == "what is this?"
        assert f"cat.png · {image.size} B · 4×3" in str(shown.render())
        assert app.query_one(Composer).attachments == [] and app.query_one(Composer).text == ""
        await app.workers.wait_for_complete()
        await pilot.pause()
        lines = str(shown.render()).split("\n")
        assert lines[-2:] == ["▀▀▀▀", "▀▀▀▀"], "a 4×3 picture: 4 columns, 2 rows of half blocks"


async def test_image_alone_waits_for_the_prompt_and_bad_files_are_refused(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("a text file with a picture's name")
    path = picture(tmp_path)
    app = vision_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.query_one(Composer)
        await submit(app, pilot, f"/image {fake}\nlook")
        assert "not a PNG, JPEG, WebP or GIF" in notes(app)
        assert composer.text == f"/image {fake}\nlook" and composer.attachments == []
        await submit(app, pilot, f"/image {path}")
        assert [a.name for a in composer.attachments] == ["cat.png"] and not scripted.chat_requests
        await pilot.pause()
        chips = [str(chip.render()) for chip in composer.chips.query(Chip)]
        assert chips == [f"📎 cat.png · {path.stat().st_size} B · 4×3"]
        await submit(app, pilot, "and now?")
        assert scripted.chat_requests[-1]["messages"][-1]["content"][1]["type"] == "image_url"


async def test_endpoint_without_vision_refuses_before_sending(scripted: ScriptedServer, tmp_path: Path) -> None:
    path = picture(tmp_path)
    app = VtApp(Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off"))  # generic: no vision
    async with app.run_test(size=SIZE) as pilot:
        await submit(app, pilot, f"/image {path}\ndescribe it")
        assert not scripted.chat_requests and not app.query(UserMessage)
        composer = app.query_one(Composer)
        assert composer.text == "describe it" and [a.name for a in composer.attachments] == ["cat.png"]
        assert "takes no images" in notes(app) and "--engine" in notes(app)


async def test_palette_attach_image(scripted: ScriptedServer, tmp_path: Path) -> None:
    path = picture(tmp_path, "dog.png")
    app = vision_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await run_palette_command(pilot, "Attach image")
        assert isinstance(app.screen, AttachScreen)
        await pilot.press(*str(path)[:-5])  # ".../d" then → accepts the completion
        await pilot.pause(0.2)
        await pilot.press("right", "enter")
        await pilot.pause()
        assert [a.name for a in app.query_one(Composer).attachments] == ["dog.png"]


async def test_resume_sends_the_images_again_and_shows_them(scripted: ScriptedServer, tmp_path: Path) -> None:
    path = picture(tmp_path)
    app = vision_app(scripted, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await submit(app, pilot, f"/image {path}\nwhat is this?")
    stored = Store(tmp_path / "conversations.sqlite3").turns(1)
    assert [(a.name, a.width, a.height) for a in stored[0].attachments] == [("cat.png", 4, 3)]
    app = vision_app(scripted, tmp_path, resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        assert "cat.png" in str(app.query_one(UserMessage).render())
        await submit(app, pilot, "and its colour?")
    first, _, last = [m for m in scripted.chat_requests[-1]["messages"] if m["role"] != "system"]
    assert first["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": attachments.load(path).data_url()}},
    ]
    assert last == {"role": "user", "content": "and its colour?"}
