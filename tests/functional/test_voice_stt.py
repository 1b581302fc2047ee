"""Speech to text for real: espeak-ng says a sentence, Whisper (local, or behind a real HTTP endpoint) writes it back.

The model loads once per module (~1 s); each transcription takes ~1-2 s on two cores, whatever the clip's length
(Whisper always encodes a 30 s window), so the module keeps to five of them.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.audio_server import TRANSCRIPTIONS, audio_server
from tests.support.ports import closed_port
from tests.support.speech import espeak_wav, have_espeak, word_error_rate
from vt_tui.core.endpoint import Endpoint
from vt_tui.voice import SAMPLE_RATE
from vt_tui.voice.errors import VoiceError
from vt_tui.voice.stt import EndpointTranscriber, LocalWhisper, to_float32
from vt_tui.voice.wav import Pcm, from_wav, to_wav
from vt_tui.voice.whisper_model import model_dir

pytest.importorskip("faster_whisper", reason="needs the voice extra")
pytestmark = pytest.mark.skipif(not have_espeak(), reason="needs espeak-ng")

MAX_WER = 0.25
SENTENCES = ("Please set a timer for ten minutes.", "Open the settings and turn on dark mode.")


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> LocalWhisper:
    """Language left to detection, as the app's default is; tests that pin "en" pass it per call."""
    model = LocalWhisper(model_dir(tmp_path_factory.mktemp("cache")))
    model.load_blocking()
    return model


def _tone(freq: float, rate: int, seconds: float = 1.0, channels: int = 1) -> Pcm:
    count = int(rate * seconds)
    samples = [round(16000 * math.sin(2 * math.pi * freq * n / rate)) for n in range(count)]
    frames = [s for s in samples for _ in range(channels)]
    return Pcm(b"".join(s.to_bytes(2, "little", signed=True) for s in frames), rate, channels)


def _peak_hz(samples: object) -> float:
    import numpy as np

    spectrum = np.abs(np.fft.rfft(np.asarray(samples)))
    return float(np.argmax(spectrum) * SAMPLE_RATE / (2 * (len(spectrum) - 1)))


def test_resampling_keeps_speech_band_and_drops_what_16khz_cannot_hold() -> None:
    import numpy as np

    voice = to_float32(_tone(440, 22050, channels=2))
    high = to_float32(_tone(10_000, 22050))  # above 8 kHz: without a low-pass it would alias to 6 kHz

    assert len(voice) == SAMPLE_RATE
    assert abs(_peak_hz(voice) - 440) < 2
    assert 0.45 < float(np.max(np.abs(voice))) < 0.5  # 16000 / 32768, both channels averaged
    assert float(np.sqrt(np.mean(high**2))) < 0.01 * 16000 / 32768 / math.sqrt(2)  # -40 dB or better


async def test_local_whisper_writes_back_what_espeak_said_without_blocking_the_loop(whisper: LocalWhisper) -> None:
    sentence = SENTENCES[0]
    pcm = from_wav(espeak_wav(sentence))  # 22050 Hz: the product resamples
    stalls: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append(time.perf_counter() - before)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    text = await whisper.transcribe(pcm)
    took = time.perf_counter() - started
    ticking.cancel()

    wer = word_error_rate(sentence, text)
    print(f"\nlocal, language detected: {sentence!r} -> {text!r}: WER {wer:.2f}, {took:.2f} s for {pcm.seconds:.1f} s")
    assert wer <= MAX_WER
    assert max(stalls) < 0.25, f"the event loop stalled {max(stalls):.2f} s"


@pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox")
async def test_a_stereo_44khz_file_is_understood_too(whisper: LocalWhisper, tmp_path: Path) -> None:
    sentence = SENTENCES[1]
    espeak_wav(sentence, tmp_path / "said.wav")
    subprocess.run(["sox", tmp_path / "said.wav", "-r", "44100", "-c", "2", tmp_path / "stereo.wav"], check=True)
    pcm = from_wav((tmp_path / "stereo.wav").read_bytes())
    assert (pcm.rate, pcm.channels) == (44100, 2)

    started = time.perf_counter()
    text = await asyncio.to_thread(whisper.transcribe_blocking, pcm, "en")
    took = time.perf_counter() - started

    wer = word_error_rate(sentence, text)
    print(f"\nlocal, en, 44.1 kHz stereo: {sentence!r} -> {text!r}: WER {wer:.2f}, {took:.2f} s")
    assert wer <= MAX_WER


@pytest.mark.parametrize("pcm", [Pcm(b""), Pcm(b"\0\0" * SAMPLE_RATE), Pcm(b"\x05\x00\xfb\xff" * 8000)])
async def test_silence_is_empty_text_at_once_without_loading_a_model(pcm: Pcm, tmp_path: Path) -> None:
    whisper = LocalWhisper(tmp_path / "no-model-here")  # loading it would fail: no model is there
    started = time.perf_counter()
    assert await whisper.transcribe(pcm) == ""
    assert not whisper.loaded
    assert time.perf_counter() - started < 2.0  # generous: a check of the samples, not a model's seconds


def test_a_bad_language_code_is_a_voice_error(whisper: LocalWhisper) -> None:
    with pytest.raises(VoiceError) as caught:
        whisper.transcribe_blocking(from_wav(espeak_wav("hello")), "xx")

    assert "'xx' is not a valid language code" in caught.value.message
    assert "--stt-language" in caught.value.hint


async def test_a_damaged_model_says_how_to_get_a_good_one(whisper: LocalWhisper, tmp_path: Path) -> None:
    assert whisper.model_path is not None
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(whisper.model_path / name, tmp_path / name)
    with (whisper.model_path / "model.bin").open("rb") as whole:
        (tmp_path / "model.bin").write_bytes(whole.read(100_000))  # cut short

    with pytest.raises(VoiceError) as caught:
        await LocalWhisper(tmp_path).transcribe(from_wav(espeak_wav("hello")))

    assert f"The local speech model at {tmp_path} does not load" in caught.value.message
    assert f"delete {tmp_path}" in caught.value.hint and "pip install 'vt-tui[voice]'" in caught.value.hint


async def test_endpoint_transcription_matches_local(whisper: LocalWhisper) -> None:
    sentence = "What is the weather like in Paris today?"
    pcm = from_wav(espeak_wav(sentence))
    local = await asyncio.to_thread(whisper.transcribe_blocking, pcm, "en")
    with audio_server(whisper=whisper, tts=False) as server:
        endpoint = Endpoint(server.base_url)
        stt = EndpointTranscriber(endpoint, "whisper-base", language="en")
        try:
            started = time.perf_counter()
            text = await stt.transcribe(pcm)
            took = time.perf_counter() - started
        finally:
            await endpoint.aclose()

    print(f"\nendpoint, en: {sentence!r} -> {text!r} ({took:.2f} s); local: {local!r}")
    assert text == local
    assert word_error_rate(sentence, text) <= MAX_WER
    assert stt.name == "endpoint /v1/audio/transcriptions (model whisper-base)"
    [(path, fields)] = server.requests
    assert path == TRANSCRIPTIONS
    assert {k: fields[k] for k in ("model", "language", "response_format")} == {
        "model": "whisper-base",
        "language": "en",
        "response_format": "json",
    }
    filename, data, content_type = fields["file"]
    assert (filename, content_type) == ("speech.wav", "audio/wav")
    assert data == to_wav(pcm)


async def _transcribe_via(base_url: str, model: str = "whisper-base") -> VoiceError:
    endpoint = Endpoint(base_url)
    try:
        with pytest.raises(VoiceError) as caught:
            await EndpointTranscriber(endpoint, model).transcribe(from_wav(espeak_wav("hello")))
    finally:
        await endpoint.aclose()
    return caught.value


async def test_endpoint_without_the_route_says_so_and_what_to_do() -> None:
    with audio_server(stt=False, tts=False) as server:
        error = await _transcribe_via(server.base_url)

    assert error.status == 404
    assert "404" in error.message and "Not Found" in error.message
    assert TRANSCRIPTIONS in error.hint
    assert "--stt local" in error.hint and "--stt-model" in error.hint
    assert [path for path, _ in server.requests] == [TRANSCRIPTIONS]


async def test_endpoint_without_the_model_names_it() -> None:
    with audio_server(tts=False) as server:
        error = await _transcribe_via(server.base_url, "whisper-1")

    assert error.status == 404
    assert "The model 'whisper-1' does not exist." in error.message
    assert "'whisper-1'" in error.hint


async def test_endpoint_down_says_so() -> None:
    error = await _transcribe_via(f"http://127.0.0.1:{closed_port()}/v1")

    assert error.status is None
    assert "Cannot connect" in error.message
    assert "--stt local" in error.hint


async def test_audio_server_lists_its_routes_and_speaks_with_espeak() -> None:
    import openai

    with audio_server(stt=False) as server:
        endpoint = Endpoint(server.base_url)
        try:
            status, spec = await endpoint.fetch(endpoint.root_url + "/openapi.json")
            speech = await endpoint.client.audio.speech.create(
                model="espeak", input="Hello there.", voice="alloy", response_format="wav"
            )
            with pytest.raises(openai.BadRequestError) as empty:
                await endpoint.client.audio.speech.create(model="espeak", input=" ", voice="alloy")
        finally:
            await endpoint.aclose()

    assert status == 200
    assert sorted(spec["paths"]) == ["/v1/audio/speech", "/v1/chat/completions", "/v1/models"]
    assert speech.response.headers["content-type"] == "audio/wav"
    said = from_wav(speech.content)
    assert (said.rate, said.channels) == (22050, 1) and 0.5 < said.seconds < 3
    assert empty.value.status_code == 400 and "empty" in empty.value.message
    assert server.requests[1] == (
        "/v1/audio/speech",
        {"model": "espeak", "input": "Hello there.", "voice": "alloy", "response_format": "wav"},
    )


async def test_a_confidently_detected_language_is_kept_for_later_recordings() -> None:
    whisper = LocalWhisper()
    short = from_wav(espeak_wav("Yes."))
    assert await whisper.transcribe(short) and whisper.learned_language is None  # too short to go by
    # espeak's robotic voice: Whisper is 0.68 sure of English for SENTENCES[0], 0.95 for this one
    await whisper.transcribe(from_wav(espeak_wav("The quick brown fox jumps over the lazy dog near the river bank.")))
    assert whisper.learned_language == "en"
    assert LocalWhisper(language="de").language == "de" and LocalWhisper(language="auto").language is None
