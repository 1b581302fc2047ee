"""One app's voice: push-to-talk into text, and replies read aloud as they stream. No Textual here.

The UI calls :meth:`Voice.start_recording` / :meth:`Voice.finish_recording` for the talk key, and feeds each reply
through :meth:`Voice.reply_text` / :meth:`Voice.reply_done`. Every failure arrives as a :class:`VoiceError` whose
message says what to do; text chat is never affected by it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from vt_tui.voice.choice import Choice, audio_routes, choose_stt, choose_tts, synthesizer, transcriber
from vt_tui.voice.errors import VoiceError
from vt_tui.voice.wav import trim_silence

if TYPE_CHECKING:
    from vt_tui.core.endpoint import Endpoint
    from vt_tui.settings import Settings
    from vt_tui.voice.audio import Device, Recorder
    from vt_tui.voice.narrator import Narrator
    from vt_tui.voice.speakable import SpeechSplitter
    from vt_tui.voice.stt import Transcriber

log = logging.getLogger(__name__)
MIN_SECONDS = 0.3  # shorter than this is a key pressed twice, not speech


class Voice:
    """Push-to-talk and spoken replies for one app; ``on_error`` hears about failures (called on the loop).

    ``on_play(sentence, when)`` hears of each sound as it starts (for benches).
    """

    def __init__(
        self,
        settings: Settings,
        on_error: Callable[[VoiceError], None],
        on_play: Callable[[str, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_error = on_error
        self.on_play = on_play
        self.speak = settings.speak
        self.endpoint: Endpoint | None = None
        self._choices: tuple[Choice, Choice] | None = None
        self._transcriber: Transcriber | None = None
        self._narrator: Narrator | None = None
        self._splitter: SpeechSplitter | None = None
        self._recorder: Recorder | None = None
        self._stt_lock = asyncio.Lock()

    def attach(self, endpoint: Endpoint | None) -> None:
        """Use this endpoint from now on (its audio routes are looked up again on first use)."""
        self.endpoint = endpoint
        self._choices = None
        self._transcriber = None
        if self._narrator is not None:
            self._narrator.stop()
        self._narrator = None

    async def choices(self) -> tuple[Choice, Choice]:
        """(speech to text, text to speech) for this endpoint and these settings."""
        if self._choices is None:
            needs_routes = self.settings.stt != "off" or self.settings.tts != "off"
            routes = await audio_routes(self.endpoint) if needs_routes else set()
            self._choices = (
                choose_stt(self.settings, self.endpoint, routes),
                choose_tts(self.settings, self.endpoint, routes),
            )
            log.info("voice: stt %s (%s); tts %s (%s)", *(x for c in self._choices for x in (c.kind, c.why)))
        return self._choices

    # push-to-talk
    @property
    def recording(self) -> bool:
        return self._recorder is not None and self._recorder.recording

    async def start_recording(
        self, on_level: Callable[[float], None], on_limit: Callable[[], None] | None = None
    ) -> Device:
        """Silence any speech, then open the microphone (in a worker thread: PortAudio blocks for a few ms).

        Raises VoiceError. ``on_level`` and ``on_limit`` (the recording reached its 5 minutes) are called from
        PortAudio's thread.
        """
        from vt_tui.voice.audio import Recorder

        if self.settings.stt == "off":
            raise VoiceError("Speech input is off (stt = off). Set --stt auto to talk.")
        self.stop_speech()  # don't record our own voice (on the loop: it cancels the narrator's task)
        recorder = Recorder(self.settings.audio_in, on_level, on_limit=on_limit)
        device = await asyncio.to_thread(recorder.start)
        self._recorder = recorder
        return device

    def discard_recording(self) -> None:
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None

    async def prepare(self) -> None:
        """Get speech to text ready while the user speaks: the local model loads in ~0.7 s. Raises VoiceError."""
        stt = await self._stt()
        load = getattr(stt, "load", None)
        if load is not None:
            await load()

    async def _stt(self) -> Transcriber:
        async with self._stt_lock:  # prepare() and finish_recording() may both ask first
            if self._transcriber is None:
                stt_choice, _ = await self.choices()
                self._transcriber = transcriber(stt_choice, self.settings, self.endpoint)
                if self._transcriber is None:
                    raise VoiceError(f"No speech-to-text path: {stt_choice.why}.")
            return self._transcriber

    async def finish_recording(self) -> str:
        """Stop recording and return the transcript ("" for a blip or silence). Raises VoiceError."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return ""
        pcm = await asyncio.to_thread(lambda: trim_silence(recorder.stop()))
        if pcm.seconds < MIN_SECONDS:
            return ""
        text = await (await self._stt()).transcribe(pcm)
        return text.strip()

    # spoken replies
    async def reply_started(self) -> None:
        """A reply begins: what was still being said of the last one stops."""
        self.stop_speech()
        if not self.speak:
            self._splitter = None
            return
        from vt_tui.voice.speakable import SpeechSplitter

        if self._narrator is None:
            self._narrator = await self._make_narrator()
        self._splitter = SpeechSplitter() if self._narrator is not None else None

    async def _make_narrator(self) -> Narrator | None:
        from vt_tui.voice.audio import SpeakerPlayer
        from vt_tui.voice.narrator import Narrator

        _, tts_choice = await self.choices()
        synth = synthesizer(tts_choice, self.settings, self.endpoint)
        if synth is None:
            self.speak = False
            self.on_error(VoiceError(f"Replies can't be spoken: {tts_choice.why}."))
            return None
        player = SpeakerPlayer(self.settings.audio_out)
        return Narrator(synth, player, on_error=self._speech_failed, on_play=self.on_play)

    def _speech_failed(self, error: VoiceError) -> None:
        """Speech broke (no speaker, endpoint down): spoken replies go off rather than failing on every reply."""
        self._splitter = None
        self.speak = False
        self.on_error(error)

    def reply_text(self, delta: str) -> None:
        if self._splitter is not None and self._narrator is not None:
            for sentence in self._splitter.feed(delta):
                self._narrator.say(sentence)

    def reply_done(self) -> None:
        if self._splitter is not None and self._narrator is not None:
            for sentence in self._splitter.flush():
                self._narrator.say(sentence)
        self._splitter = None

    @property
    def speaking(self) -> bool:
        return self._narrator is not None and self._narrator.speaking

    def stop_speech(self) -> None:
        """Esc: silence now, and nothing more of this reply."""
        self._splitter = None
        if self._narrator is not None:
            self._narrator.stop()

    def toggle_speak(self) -> bool:
        self.speak = not self.speak
        if not self.speak:
            self.stop_speech()
        return self.speak

    async def wait(self) -> None:
        """Until everything queued has been said."""
        if self._narrator is not None:
            await self._narrator.wait()

    async def aclose(self) -> None:
        self.discard_recording()
        if self._narrator is not None:
            await self._narrator.aclose()
