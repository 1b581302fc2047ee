"""Text to speech: the endpoint's ``/v1/audio/speech``, or ``espeak-ng`` run locally. Both return WAV bytes.

Both raise :class:`~vt_tui.voice.errors.VoiceError`; nothing here blocks the event loop (espeak-ng runs as an
asyncio subprocess, killed if the caller is cancelled).
"""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING, Protocol

from vt_tui.core.errors import EndpointError
from vt_tui.voice.errors import VoiceError
from vt_tui.voice.wav import Pcm, from_wav, to_wav

if TYPE_CHECKING:
    from vt_tui.core.endpoint import Endpoint

SPEECH = "/v1/audio/speech"
ESPEAK_RATE = 22_050  # Hz: what espeak-ng's voices speak at
ESPEAK_HINT = "or speak replies with espeak-ng (--tts espeak)"
INSTALL_ESPEAK = "install it: sudo apt-get install espeak-ng"


class Synthesizer(Protocol):
    """Turns one sentence into speech."""

    name: str  # for people: which path, which voice

    async def synthesize(self, text: str) -> bytes:
        """``text`` spoken, as a 16-bit PCM WAV file."""
        ...


def silence(rate: int = ESPEAK_RATE) -> bytes:
    """A WAV with no samples: what an empty text sounds like."""
    return to_wav(Pcm(b"", rate))


class Espeak:
    """``espeak-ng`` in a subprocess; the text goes through stdin, never a shell or the argument list."""

    def __init__(self, voice: str = "en-us", speed_wpm: int = 175, *, program: str = "espeak-ng") -> None:
        self.voice = voice
        self.speed_wpm = speed_wpm
        self.program = program
        self.name = f"espeak-ng (voice {voice}, {speed_wpm} words/min)"

    def _command(self) -> list[str]:
        path = shutil.which(self.program)
        if path is None:
            raise VoiceError(f"{self.program} is not installed, so replies can't be spoken", INSTALL_ESPEAK)
        return [path, "--stdout", "--stdin", "-b", "1", "-v", self.voice, "-s", str(self.speed_wpm)]

    async def synthesize(self, text: str) -> bytes:
        # "[[" starts phoneme input in espeak-ng; nothing a reply says should be read as phonemes.
        text = " ".join(text.replace("[[", "[ [").split())
        if not text:
            return silence()
        proc = await asyncio.create_subprocess_exec(
            *self._command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(text.encode())
        except BaseException:  # cancelled (Esc): the sound is not wanted any more
            if proc.returncode is None:
                proc.kill()
                await asyncio.shield(proc.wait())
            raise
        if proc.returncode != 0:
            said = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            hint = "list the voices with: espeak-ng --voices" if "voice" in said.lower() else INSTALL_ESPEAK
            raise VoiceError(f"espeak-ng failed with voice {self.voice!r}: {said}", hint)
        try:  # --stdout can't seek back, so the header claims ~2 GB of samples: write a true one
            return to_wav(from_wav(out))
        except ValueError as exc:
            raise VoiceError(f"espeak-ng gave no sound ({exc})", INSTALL_ESPEAK) from None


class EndpointSpeech:
    """The endpoint's ``/v1/audio/speech`` (OpenAI, speaches, Kokoro-FastAPI, LocalAI, …), asked for WAV."""

    def __init__(self, endpoint: Endpoint, model: str, voice: str = "alloy") -> None:
        self.endpoint = endpoint
        self.model = model
        self.voice = voice
        self.name = f"endpoint {SPEECH} (model {model}, voice {voice})"

    async def synthesize(self, text: str) -> bytes:
        text = " ".join(text.split())
        if not text:
            return silence()
        try:
            response = await self.endpoint.request(
                lambda: self.endpoint.client.audio.speech.create(
                    model=self.model, voice=self.voice, input=text, response_format="wav"
                ),
                self.model,
            )
        except EndpointError as exc:
            raise speech_error(exc, self.model) from None
        data = response.content
        try:
            return to_wav(from_wav(data))
        except ValueError as exc:
            raise VoiceError(
                f"{self.endpoint.base_url}{SPEECH} did not send a 16-bit WAV ({exc}; {len(data)} bytes)",
                f"choose a speech model that can answer in WAV (--tts-model), {ESPEAK_HINT}",
            ) from None


def speech_error(error: EndpointError, model: str) -> VoiceError:
    """A failed speech request as a :class:`VoiceError`; a missing route, model or voice gets its own fix."""
    hint = f"{error.hint}; {ESPEAK_HINT}" if error.hint else ESPEAK_HINT
    if error.status in (404, 405):
        missing = f"the server has no {SPEECH} or no model {model!r}"
        hint = f"{missing}: name one it lists with --tts-model, {ESPEAK_HINT}"
    elif error.status in (400, 422):
        hint = f"check the voice (--tts-voice) and model (--tts-model), {ESPEAK_HINT}"
    return VoiceError(f"Text to speech failed: {error.message}", hint, error.status)
