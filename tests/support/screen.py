"""What a test app shows, as the terminal would receive it.

Built on Textual's private compositor (``Screen._compositor``): the one place tests reach into it, so a Textual
upgrade that moves it breaks one helper instead of three files.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.strip import Strip


def screen_rows(app: App[Any]) -> list[Strip]:
    """The strips of the whole screen, one per row."""
    return app.screen._compositor.render_strips()


def screen_text(app: App[Any]) -> str:
    return "\n".join(strip.text for strip in screen_rows(app))


async def run_palette_command(pilot: Any, title: str) -> None:
    """Ctrl+P, type the command's title, Enter: as a user picks a command from the palette."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*title)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause(0.3)
