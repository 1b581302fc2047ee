"""Keys are declared once (``CHAT_COMMANDS`` and the dialogs' ``BINDINGS``): the README's table, the palette
and the footer agree with them, and users remap them by id in config.toml's ``[keymap]``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.support.screen import screen_text
from tests.support.scripted_server import ScriptedServer
from vt_tui import settings as settings_module
from vt_tui.core.agent import ApprovalRequest
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp, remappable
from vt_tui.ui.commands import CHAT_COMMANDS, MESSAGE_COMMANDS, key_label
from vt_tui.ui.screens.approval import ApprovalScreen, approver_for
from vt_tui.ui.widgets.composer import Composer

README = Path(__file__).parents[2] / "README.md"
SIZE = (100, 30)
UNBOUND = {"Up", "Down"}  # the composer's history keys, handled in its key handler (not bindings)


def readme_key_rows() -> list[tuple[list[str], list[str]]]:
    """(keys, ids) per row of the README's key table; ids are ``[]`` for a "–"."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| key | id | does |") :].split("\n\n")[0].splitlines()[2:]
    rows = []
    for line in table:
        keys, ids, _ = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((keys.split(" / "), [] if ids == "–" else ids.split(" / ")))
    return rows


def test_readme_key_table_matches_the_bindings() -> None:
    bindings = remappable()
    documented: set[str] = set()
    for keys, ids in readme_key_rows():
        if not ids:
            composer_keys = {key_label(b.key) for b in Composer.BINDINGS}
            assert set(keys) <= composer_keys | UNBOUND, keys
            continue
        assert len(keys) == len(ids), (keys, ids)
        for key, binding_id in zip(keys, ids, strict=True):
            assert binding_id in bindings, f"README names {binding_id!r}, which no binding has"
            assert key_label(bindings[binding_id]) == key, (binding_id, bindings[binding_id], key)
            documented.add(binding_id)
    chat_keys = {command.id for command in (*CHAT_COMMANDS, *MESSAGE_COMMANDS) if command.key} | {"quit"}
    assert chat_keys <= documented, f"not in the README's table: {sorted(chat_keys - documented)}"
    text = README.read_text(encoding="utf-8")
    dialogs = text[text.index("In dialogs:") :].split("\n\n")[0]
    named = set(re.findall(r"`([a-z]+-[a-z-]+)`", dialogs))  # ids have a hyphen; keys like `c` do not
    assert named == set(bindings) - chat_keys, named ^ (set(bindings) - chat_keys)


def test_every_command_names_an_action_of_the_chat_screen() -> None:
    from vt_tui.ui.screens.chat import ChatScreen

    commands = (*CHAT_COMMANDS, *MESSAGE_COMMANDS)
    ids = [command.id for command in commands]
    assert len(ids) == len(set(ids))
    for command in commands:
        assert hasattr(ChatScreen, "action_" + command.action.split("(")[0]), command


def make_app(server: ScriptedServer, data: Path, **settings) -> VtApp:
    return VtApp(Settings(base_url=server.base_url, data_dir=data, tools="off", **settings))


async def test_palette_is_built_from_the_commands_and_shows_the_keys(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path, keymap=(("retry", "f12"),))
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        entries = {c.title: c.help for c in app.get_system_commands(app.screen)}
        for command in CHAT_COMMANDS:
            if command.title:
                assert command.title in entries, command.title
        assert entries["Retry"].endswith("(F12)")  # the key as remapped
        assert entries["Switch model"].endswith("(F2)") and entries["Attach image"] == next(
            c.help for c in CHAT_COMMANDS if c.id == "attach-image"
        )
        await pilot.press("ctrl+p", *"Toggle side panels")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert not app.query_one("#side").display  # shown at 100 columns, hidden by the palette's command


async def test_keymap_in_config_toml_remaps_keys(scripted: ScriptedServer, tmp_path: Path, xdg_home: Path) -> None:
    config = xdg_home / "config" / "vt-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('tools = "off"\n[keymap]\ntoggle-side = "alt+s"\nnot-a-command = "f1"\n')
    settings = settings_module.load(cli={"base_url": scripted.base_url, "data_dir": tmp_path}, environ={})
    assert settings.keymap == (("not-a-command", "f1"), ("toggle-side", "alt+s"))
    app = VtApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        side = app.query_one("#side")
        assert side.display
        await pilot.press("f3")  # no longer bound
        await pilot.pause()
        assert side.display
        await pilot.press("alt+s")
        await pilot.pause()
        assert not side.display
        warnings = [str(n.message) for n in app._notifications if n.title == "config.toml"]
        assert len(warnings) == 1 and "not-a-command" in warnings[0] and "toggle-side" in warnings[0]


async def test_approval_prompt_shows_and_takes_the_remapped_keys(scripted: ScriptedServer, tmp_path: Path) -> None:
    request = ApprovalRequest("c1", "web_fetch", {"url": "https://example.com/"}, "example.com", "Read a page.")
    app = make_app(scripted, tmp_path, keymap=(("allow-once", "o"),))
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        answer = asyncio.create_task(approver_for(app.chat_screen)(request))
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        assert " o  allow once" in screen_text(app) and " y  allow once" not in screen_text(app)
        await pilot.press("y")
        await pilot.pause()
        assert not answer.done()
        await pilot.press("o")
        assert await asyncio.wait_for(answer, 5) == "once"


async def test_a_remapped_key_that_another_command_holds_is_reported(scripted: ScriptedServer, tmp_path: Path) -> None:
    app = make_app(scripted, tmp_path, keymap=(("retry", "f12"), ("talk", "f6,alt+v")))
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        warnings = [str(n.message) for n in app._notifications if n.title == "config.toml"]
        assert len(warnings) == 1, warnings
        assert "F12: cycle-thinking, retry" in warnings[0] and "alt+v" not in warnings[0].lower()


def test_key_clashes_are_only_those_the_keymap_made() -> None:
    from vt_tui.ui.app import VtApp, remappable_nodes
    from vt_tui.ui.commands import key_clashes

    assert key_clashes(remappable_nodes(), {}, VtApp.BINDINGS) == []  # the defaults never clash
    assert key_clashes(remappable_nodes(), {"retry": "alt+r", "talk": "f6,alt+v"}, VtApp.BINDINGS) == []
    assert key_clashes(remappable_nodes(), {"retry": "ctrl+q"}, VtApp.BINDINGS) == ["Ctrl+Q: quit, retry"]


@pytest.mark.parametrize("value", ["retry", "retry=", "=f2"])
def test_keymap_setting_refuses_what_it_cannot_read(value: str) -> None:
    with pytest.raises(settings_module.SettingsError, match="ID=KEYS"):
        settings_module.load(environ={"VT_TUI_KEYMAP": value}, config_path=Path("/nonexistent"))
