"""The push-to-talk bar above the composer: a level meter while recording, then "transcribing…".

Terminals can't report a key's release, so the talk key (F6) starts recording and the same key stops it; Esc
throws the recording away. The transcript is posted as :class:`VoiceBar.Transcribed`; the app puts it in the
composer, or sends it when ``voice_send`` is set.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from vt_tui.ui.failures import ForwardsWorkerFailures
from vt_tui.voice.errors import VoiceError

if TYPE_CHECKING:
    from vt_tui.voice.controller import Voice

BARS = " ▁▂▃▄▅▆▇█"
METER_WIDTH = 24  # the last 2.4 s of levels


def meter(levels: list[float]) -> str:
    """Levels (0–1) as block characters, newest on the right."""
    return "".join(BARS[min(len(BARS) - 1, round(v * (len(BARS) - 1)))] for v in levels)


class VoiceBar(ForwardsWorkerFailures, Static):
    """Shows only while recording or transcribing."""

    DEFAULT_CSS = """
    VoiceBar {
        height: 1;
        background: $boost;
    }
    """

    state: reactive[str] = reactive("idle")  # idle, opening, recording, transcribing

    class Transcribed(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, voice: Voice, **kwargs) -> None:
        super().__init__(**kwargs)
        self.voice = voice
        self.levels: deque[float] = deque([0.0] * METER_WIDTH, maxlen=METER_WIDTH)
        self.device_name = ""
        self.started = 0.0
        self.limit_hit = False  # the recording filled up (PortAudio's thread says so through _on_limit)

    def on_mount(self) -> None:
        self.display = False
        self.set_interval(0.1, self._tick, pause=False)

    def watch_state(self, state: str) -> None:
        self.display = state != "idle"
        self.refresh()

    def _tick(self) -> None:
        if self.state == "recording":
            self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.state == "opening":
            text.append(" ● opening the microphone…", style="yellow")
        elif self.state == "recording":
            elapsed = time.monotonic() - self.started
            text.append(" ● REC ", style="bold red")
            text.append(f"{int(elapsed // 60)}:{int(elapsed % 60):02d} ")
            text.append(meter(list(self.levels)), style="green")
            text.append(f"  {self.device_name} · F6 stops · Esc discards", style="dim")
        elif self.state == "transcribing":
            text.append(" ◌ transcribing…", style="yellow")
        return text

    # called from PortAudio's thread
    def _on_level(self, value: float) -> None:
        self.levels.append(value)

    def _on_limit(self) -> None:
        self.app.call_from_thread(self._limit_reached)

    def _limit_reached(self) -> None:
        self.limit_hit = True
        if self.state == "recording":  # else still "opening": _open() sees limit_hit once it has set "recording"
            self.app.notify("Recording reached its 5-minute limit; transcribing.", severity="warning")
            self.toggle()

    def toggle(self) -> None:
        """The talk key: start recording, or stop and transcribe."""
        if self.state == "idle":
            self.state = "opening"
            self._open()
        elif self.state == "recording":
            self.state = "transcribing"
            self._transcribe()

    def discard(self) -> bool:
        """Esc while recording: drop the audio. True when there was a recording to drop."""
        if self.state != "recording":
            return False
        self.voice.discard_recording()
        self.state = "idle"
        self.app.notify("Recording discarded.")
        return True

    @work(group="voice-open", exclusive=True, exit_on_error=False, description="opening the microphone")
    async def _open(self) -> None:
        self.levels.extend([0.0] * METER_WIDTH)
        self.limit_hit = False
        try:
            device = await self.voice.start_recording(self._on_level, self._on_limit)
        except VoiceError as exc:
            self._failed(exc)
            return
        self.device_name, self.started, self.state = device.name, time.monotonic(), "recording"
        self._prepare()
        if self.limit_hit:
            self._limit_reached()

    @work(group="voice-prepare", exclusive=True, exit_on_error=False, description="loading speech to text")
    async def _prepare(self) -> None:
        """Load speech to text while the user speaks; a missing model is said now, not after the talking."""
        try:
            await self.voice.prepare()
        except VoiceError as exc:
            self.voice.discard_recording()
            self._failed(exc)

    def _failed(self, exc: VoiceError) -> None:
        self.state = "idle"
        self.app.notify(str(exc), title="voice", severity="error", timeout=10)

    @work(group="voice-stt", exclusive=True, exit_on_error=False, description="transcribing")
    async def _transcribe(self) -> None:
        try:
            text = await self.voice.finish_recording()
        except VoiceError as exc:
            self._failed(exc)
            return
        self.state = "idle"
        if text:
            self.post_message(self.Transcribed(text))
        else:
            self.app.notify("Heard nothing — F6 to try again.", severity="warning")
