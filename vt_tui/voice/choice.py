"""Which speech-to-text and text-to-speech path a session uses, and why (shown by the app and ``vt-tui doctor``).

``auto`` uses the endpoint's audio routes when the endpoint offers them with a model that can serve them, and the
local paths otherwise: faster-whisper on the shipped base model, and espeak-ng. Whether the routes exist is read
from ``/openapi.json`` (FastAPI engines such as vLLM list them there) or known for the OpenAI API; a chat-only
server that happens to list the transcription route (vLLM serving a chat model) is passed over unless a Whisper
model is listed or named.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vt_tui.core.errors import EndpointError

if TYPE_CHECKING:
    from vt_tui.core.endpoint import Endpoint
    from vt_tui.settings import Settings
    from vt_tui.voice.stt import Transcriber
    from vt_tui.voice.tts import Synthesizer

TRANSCRIPTIONS = "/v1/audio/transcriptions"
SPEECH = "/v1/audio/speech"
STT_HINTS = ("whisper", "transcribe", "asr")
TTS_HINTS = ("tts", "speech", "kokoro", "piper", "orpheus")
OPENAI_STT, OPENAI_TTS, OPENAI_VOICE = "whisper-1", "tts-1", "alloy"
ESPEAK_VOICE = "en-us"


@dataclass(frozen=True)
class Choice:
    """One direction's path: ``kind`` is "endpoint", "local"/"espeak" or "off"; ``model`` for the endpoint."""

    kind: str
    why: str
    model: str | None = None


async def audio_routes(endpoint: Endpoint | None) -> set[str]:
    """The audio routes the endpoint says it serves (empty when it can't tell)."""
    if endpoint is None:
        return set()
    if endpoint.profile.name == "openai":
        return {TRANSCRIPTIONS, SPEECH}
    try:
        status, body = await endpoint.fetch(endpoint.root_url + "/openapi.json")
    except EndpointError:
        return set()
    if status != 200 or not isinstance(body, dict):
        return set()
    return {route for route in (body.get("paths") or {}) if route in (TRANSCRIPTIONS, SPEECH)}


def _model(endpoint: Endpoint, named: str | None, hints: tuple[str, ...], openai_default: str) -> str | None:
    if named:
        return named
    listed = next((m for m in endpoint.models if any(h in m.lower() for h in hints)), None)
    if listed:
        return listed
    return openai_default if endpoint.profile.name == "openai" else None


def choose_stt(settings: Settings, endpoint: Endpoint | None, routes: set[str]) -> Choice:
    mode = settings.stt
    if mode == "off":
        return Choice("off", "stt = off (your setting)")
    if mode != "local" and endpoint is not None and TRANSCRIPTIONS in routes:
        model = _model(endpoint, settings.stt_model, STT_HINTS, OPENAI_STT)
        if model:
            return Choice("endpoint", f"the endpoint serves {TRANSCRIPTIONS} (model {model})", model)
        if mode == "endpoint":
            return Choice("local", f"the endpoint lists {TRANSCRIPTIONS} but no whisper model: set --stt-model")
    elif mode == "endpoint":
        return Choice("local", f"stt = endpoint, but the endpoint does not offer {TRANSCRIPTIONS}")
    why = "stt = local (your setting)" if mode == "local" else f"the endpoint does not offer {TRANSCRIPTIONS}"
    return Choice("local", why)


def choose_tts(settings: Settings, endpoint: Endpoint | None, routes: set[str]) -> Choice:
    mode = settings.tts
    if mode == "off":
        return Choice("off", "tts = off (your setting)")
    if mode != "espeak" and endpoint is not None and SPEECH in routes:
        # Speech servers (openedai-speech, LocalAI, Kokoro-FastAPI) answer to OpenAI's model name too.
        model = _model(endpoint, settings.tts_model, TTS_HINTS, OPENAI_TTS) or OPENAI_TTS
        return Choice("endpoint", f"the endpoint serves {SPEECH} (model {model})", model)
    why = "tts = espeak (your setting)" if mode == "espeak" else f"the endpoint does not offer {SPEECH}"
    if mode == "endpoint":
        why = f"tts = endpoint, but the endpoint does not offer {SPEECH} with a speech model"
    if shutil.which("espeak-ng") is None:
        return Choice("off", f"{why}, and espeak-ng is not installed (apt-get install espeak-ng)")
    return Choice("espeak", why)


def transcriber(choice: Choice, settings: Settings, endpoint: Endpoint | None) -> Transcriber | None:
    """The speech-to-text object for a choice (imports stay lazy: faster-whisper is heavy)."""
    from vt_tui.voice import stt

    if choice.kind == "endpoint" and endpoint is not None and choice.model:
        return stt.EndpointTranscriber(endpoint, choice.model, language=settings.stt_language)
    if choice.kind == "local":
        return stt.LocalWhisper(language=settings.stt_language)
    return None


def synthesizer(choice: Choice, settings: Settings, endpoint: Endpoint | None) -> Synthesizer | None:
    """The text-to-speech object for a choice."""
    from vt_tui.voice import tts

    if choice.kind == "endpoint" and endpoint is not None and choice.model:
        return tts.EndpointSpeech(endpoint, choice.model, settings.tts_voice or OPENAI_VOICE)
    if choice.kind == "espeak":
        return tts.Espeak(voice=settings.tts_voice or ESPEAK_VOICE)
    return None
