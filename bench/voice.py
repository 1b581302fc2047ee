"""Voice figures: ``python bench/voice.py``.

1. Speech to text: vt-tui's :class:`LocalWhisper` (resampling, worker thread) against faster-whisper called
   directly on the same model with the same options, in this process, on espeak-ng sentences.
2. Spoken replies: from the first token of a streamed reply to the first sound reaching the speaker, through the
   real core (ChatSession on a loopback server), the Voice controller, espeak-ng and PyAudio on a file-backed ALSA
   device. The floor for any pipeline is the moment the first sentence is complete in the stream plus espeak-ng
   alone synthesising it (measured here too); "added" is what vt-tui takes beyond that.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from _common import median, table

from tests.support.scripted_server import ScriptedServer, text_reply
from tests.support.speech import espeak_wav, word_error_rate
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import TextDelta, TurnFinished
from vt_tui.core.session import ChatSession
from vt_tui.settings import Settings
from vt_tui.voice.stt import LocalWhisper, to_float32
from vt_tui.voice.tts import Espeak
from vt_tui.voice.wav import from_wav

CLIPS = (
    "Yes, go ahead.",
    "What is the tallest mountain in the world?",
    "Open the settings and turn on dark mode, then read me the last three messages in the conversation.",
)
REPLY = (
    "The tallest mountain in the world is Mount Everest. It rises 8,849 metres above sea level, on the border "
    "between Nepal and China. Climbers usually start from a base camp at about 5,300 metres. " * 4
)
RUNS = 3


def stt_rows() -> list[tuple]:
    whisper = LocalWhisper(language="en")
    model = whisper.load_blocking()
    rows = []
    for sentence in CLIPS:
        pcm = from_wav(espeak_wav(sentence))
        raw, ours = [], []
        text = ""
        for _ in range(RUNS):
            started = time.perf_counter()
            segments, _ = model.transcribe(
                to_float32(pcm), language="en", beam_size=1, vad_filter=False, condition_on_previous_text=False
            )
            " ".join(s.text for s in segments)
            raw.append(time.perf_counter() - started)
            started = time.perf_counter()
            text = asyncio.run(whisper.transcribe(pcm))
            ours.append(time.perf_counter() - started)
        auto = LocalWhisper()
        auto._model = model  # same loaded model: only the language detection differs
        started = time.perf_counter()
        asyncio.run(auto.transcribe(pcm))
        detect = time.perf_counter() - started
        rows.append(
            (
                f"{pcm.seconds:.1f} s clip",
                median(raw),
                median(ours),
                f"{median(ours) / median(raw):.2f}×",
                detect,
                f"{pcm.seconds / median(ours):.1f}×",
                f"{word_error_rate(sentence, text):.2f}",
            )
        )
    return rows


async def first_sound(base_url: str) -> tuple[float, float]:
    """(first sentence complete, first sound), seconds after the first token, through the core and the controller."""
    from vt_tui.voice.controller import Voice

    endpoint = Endpoint(base_url)
    session = ChatSession(endpoint, model="chat-model")
    plays: list[float] = []
    voice = Voice(Settings(base_url=base_url, speak=True, tts="espeak"), print, lambda _, when: plays.append(when))
    voice.attach(endpoint)
    first_token = sentence_done = 0.0
    text = ""
    await voice.reply_started()
    async for event in session.run_turn("Which is the tallest mountain?"):
        if isinstance(event, TextDelta):
            first_token = first_token or time.monotonic()
            text += event.text
            if not sentence_done and ". " in text:
                sentence_done = time.monotonic()
            voice.reply_text(event.text)
        elif isinstance(event, TurnFinished):
            voice.reply_done()
    await voice.wait()
    await voice.aclose()
    await endpoint.aclose()
    return sentence_done - first_token, plays[0] - first_token


def tts_rows(server: ScriptedServer) -> list[tuple]:
    first_sentence = REPLY.split(". ")[0] + "."
    espeak = Espeak()
    floor = []
    for _ in range(RUNS):
        started = time.perf_counter()
        asyncio.run(espeak.synthesize(first_sentence))
        floor.append(time.perf_counter() - started)
    rows = []
    for tok_s in (30.0, 2000.0):
        sentences, firsts = [], []
        for _ in range(RUNS):
            server.queue(text_reply(REPLY, rate=tok_s))
            sentence, first = asyncio.run(first_sound(server.base_url))
            sentences.append(sentence)
            firsts.append(first)
        added = (median(firsts) - median(sentences) - median(floor)) * 1000
        rows.append((f"{tok_s:.0f} tok/s", median(sentences), median(floor), median(firsts), f"{added:.0f}"))
    return rows


def main() -> None:
    table(
        "Speech to text, local faster-whisper base (int8, 2 threads), language en; median of 3",
        (
            "clip",
            "faster-whisper direct (s)",
            "vt-tui LocalWhisper (s)",
            "ratio",
            "language detected (s)",
            "speed vs real time",
            "WER",
        ),
        stt_rows(),
    )
    home = Path(tempfile.mkdtemp(prefix="vt-bench-audio-"))
    (home / "mic.raw").write_bytes(b"\0\0" * 1600)
    from vt_tui.voice.whisper_model import cache_root

    os.environ["XDG_CACHE_HOME"] = str(cache_root().parent)
    os.environ["HOME"] = str(home)
    from tests.support.alsa import ASOUNDRC

    (home / ".asoundrc").write_text(ASOUNDRC.format(infile=home / "mic.raw", outfile=home / "speaker.raw"))
    with ScriptedServer(["chat-model"]) as server:
        table(
            "Spoken replies: first token to first sound (espeak-ng, PyAudio on a file-backed ALSA device); median of 3",
            (
                "stream",
                "first sentence complete (s)",
                "espeak-ng alone on it (s)",
                "first sound (s)",
                "added by vt-tui (ms)",
            ),
            tts_rows(server),
        )


if __name__ == "__main__":
    main()
