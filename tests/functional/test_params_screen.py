"""The generation parameters dialog, driven with Pilot in a small host app."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Input, Label, Static

from tests.support.screen import screen_text
from vt_tui.core.params import GenerationParams
from vt_tui.ui.screens.params import ParamsScreen

SIZE = (100, 40)
UNSET = object()


class HostApp(App[None]):
    def __init__(self, params: GenerationParams, ignored: list[str] | None = None) -> None:
        super().__init__()
        self.start = params
        self.ignored = ignored or []
        self.results: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Label("host")

    def on_mount(self) -> None:
        self.push_screen(ParamsScreen(self.start, self.ignored), self.results.append)


def field(app: App[Any], name: str) -> Input:
    return app.screen.query_one(f"#param-{name}", Input)


def message(app: App[Any], name: str) -> Static:
    return app.screen.query_one(f"#param-{name}-error", Static)


async def set_value(pilot, app: App[Any], name: str, text: str) -> None:
    """Focus the input, clear it and type ``text`` key by key, as a person would."""
    field(app, name).focus()
    field(app, name).value = ""
    await pilot.pause()
    await pilot.press(*[{" ": "space", ",": "comma", "\\": "backslash"}.get(c, c) for c in text])
    await pilot.pause()


async def test_shows_current_values_and_applies_typed_ones() -> None:
    start = GenerationParams(temperature=0.7, max_tokens=1024, stop=["\n\nUser:"])
    app = HostApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        assert field(app, "temperature").value == "0.7" and field(app, "top_p").value == ""
        assert field(app, "max_tokens").value == "1024" and field(app, "stop").value == r"\n\nUser:"
        text = screen_text(app)
        assert "Generation parameters" in text and "Esc cancel" in text and "ignores" not in text
        await set_value(pilot, app, "temperature", "1.2")
        await set_value(pilot, app, "top_p", "0.9")
        await set_value(pilot, app, "max_tokens", "256")
        await set_value(pilot, app, "stop", r"###, a\,b")
        await set_value(pilot, app, "seed", "42")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ParamsScreen)
    assert app.results == [GenerationParams(temperature=1.2, top_p=0.9, max_tokens=256, stop=["###", "a,b"], seed=42)]
    assert start.temperature == 0.7  # the caller's object is not changed


async def test_ctrl_s_applies_and_empty_means_engine_default() -> None:
    app = HostApp(GenerationParams(temperature=0.5, seed=3))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await set_value(pilot, app, "temperature", "")
        await set_value(pilot, app, "seed", "")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [GenerationParams(temperature=None, seed=None, max_tokens=1024)]


async def test_invalid_value_shows_message_and_is_not_applied() -> None:
    app = HostApp(GenerationParams())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await set_value(pilot, app, "temperature", "3")
        assert "temperature must be from 0 to 2" in str(message(app, "temperature").render())
        assert message(app, "temperature").display and field(app, "temperature").has_class("-invalid")
        await set_value(pilot, app, "max_tokens", "0")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen) and app.results == []  # not applied
        assert app.screen.focused is field(app, "temperature")  # the first bad input
        assert "from 1 to 1,000,000" in screen_text(app)
        # fixing both clears the messages and applies
        await set_value(pilot, app, "temperature", "0")
        assert not message(app, "temperature").display and not field(app, "temperature").has_class("-invalid")
        await set_value(pilot, app, "max_tokens", "64")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [GenerationParams(temperature=0.0, max_tokens=64)]


async def test_too_many_stop_strings_is_refused() -> None:
    app = HostApp(GenerationParams())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await set_value(pilot, app, "stop", "a,b,c,d,e")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen) and "at most 4" in str(message(app, "stop").render())


async def test_escape_cancels_with_none() -> None:
    app = HostApp(GenerationParams(temperature=0.3))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await set_value(pilot, app, "temperature", "1.9")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ParamsScreen)
    assert app.results == [None]


async def test_notes_params_the_engine_ignores() -> None:
    app = HostApp(GenerationParams(), ignored=["seed", "stop"])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "this engine ignores stop, seed" in text
        assert "stop *" in text and "seed *" in text and "temperature *" not in text


async def test_text_from_data_is_inert() -> None:
    """Stop strings with markup or escape sequences are shown as typed, never interpreted."""
    app = HostApp(GenerationParams(stop=["[bold red]x[/]", "\x1b[31mred"]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert field(app, "stop").value == r"[bold red]x[/], \x1b[31mred"
        assert r"[bold red]x[/], \x1b[31mred" in screen_text(app)
        await set_value(pilot, app, "stop", "[b]a, [/]")
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [GenerationParams(stop=["[b]a", "[/]"])]
