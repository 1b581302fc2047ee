"""Speech to text: local faster-whisper ("base", CPU, int8) or the endpoint's ``/v1/audio/transcriptions``.

Both take a :class:`~vt_tui.voice.wav.Pcm` recording and return its text ("" for silence); both raise
:class:`~vt_tui.voice.errors.VoiceError`. Nothing here blocks the event loop: the model loads and runs in a worker
thread. numpy and faster-whisper are imported only when first needed (they come with the ``voice`` extra).
"""

from __future__ import annotations

import asyncio
import threading
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vt_tui.core.errors import EndpointError
from vt_tui.voice import SAMPLE_RATE
from vt_tui.voice.errors import INSTALL_HINT, VoiceError
from vt_tui.voice.wav import Pcm, to_wav

if TYPE_CHECKING:
    import numpy as np

    from vt_tui.core.endpoint import Endpoint

SILENCE_PEAK = 33  # |sample| at or below this everywhere (-60 dBFS) is digital silence: nothing to transcribe
TRANSCRIPTIONS = "/v1/audio/transcriptions"
LOCAL_HINT = "or use local speech input (--stt local)"
LEARN_MIN_SECONDS = 1.5  # a shorter clip says too little about its language
LEARN_MIN_PROBABILITY = 0.8


class Transcriber(Protocol):
    """Turns a recording into text."""

    name: str  # for people: which path, which model

    async def transcribe(self, pcm: Pcm) -> str: ...


def spoken_language(setting: str | None) -> str | None:
    """The ``stt_language`` setting as a Whisper language code; None (detect it) for empty or "auto"."""
    return None if setting in (None, "", "auto") else setting


def is_silent(pcm: Pcm) -> bool:
    """No samples, or none louder than :data:`SILENCE_PEAK`. No numpy needed, but ~2 ms a second of audio: call it
    from a worker thread."""
    samples = array("h", pcm.data[: len(pcm.data) - len(pcm.data) % 2])
    return not samples or max(max(samples), -min(samples)) <= SILENCE_PEAK


def _lowpass(x: np.ndarray, cutoff: float, half: int = 32) -> np.ndarray:
    """Windowed-sinc FIR low-pass; ``cutoff`` in cycles per sample (0 to 0.5)."""
    import numpy as np

    n = np.arange(-half, half + 1)
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(2 * half + 1)
    return np.convolve(x, taps / taps.sum(), mode="same")


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` sampled at ``rate`` Hz, linearly interpolated to ``target`` Hz (low-passed first when downsampling)."""
    import numpy as np

    if rate == target or x.size == 0:
        return x.astype(np.float32, copy=False)
    if rate > target:
        x = _lowpass(x, 0.5 * target / rate)
    count = max(1, round(x.size * target / rate))
    positions = np.arange(count) * (rate / target)
    return np.interp(positions, np.arange(x.size), x).astype(np.float32)


def to_float32(pcm: Pcm) -> np.ndarray:
    """16 kHz mono float32 samples in [-1, 1): what Whisper takes. Channels are averaged; any rate is resampled."""
    import numpy as np

    frame = 2 * max(1, pcm.channels)
    samples = np.frombuffer(pcm.data[: len(pcm.data) - len(pcm.data) % frame], dtype="<i2").astype(np.float32)
    if pcm.channels > 1:
        samples = samples.reshape(-1, pcm.channels).mean(axis=1)
    return resample(samples / 32768.0, pcm.rate)


class LocalWhisper:
    """faster-whisper on the CPU with the shipped base model, loaded once, on first use, in a worker thread."""

    name = "local faster-whisper base (CPU, int8)"

    def __init__(self, model_path: Path | None = None, *, language: str | None = None, cpu_threads: int = 2) -> None:
        self.model_path = model_path  # None: assembled from the model packages into the cache dir
        self.language = spoken_language(language)  # None: detected per recording
        self.learned_language: str | None = None  # detected with confidence once: used from then on
        self.cpu_threads = cpu_threads
        self._model: Any = None
        self._lock = threading.Lock()  # not asyncio's: callers may come from different loops or plain threads

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load_blocking(self) -> Any:
        """The faster-whisper model, loaded on the first call (assembles the model files if needed)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        from vt_tui.voice.whisper_model import model_dir

        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise VoiceError("faster-whisper is not installed", INSTALL_HINT) from None
        path = self.model_path or model_dir()
        if not (path / "model.bin").is_file():  # else faster-whisper takes the path for a Hugging Face repo id
            raise VoiceError(f"No speech model at {path} (model.bin is missing)", INSTALL_HINT)
        try:
            return WhisperModel(
                str(path), device="cpu", compute_type="int8", cpu_threads=self.cpu_threads, local_files_only=True
            )
        except (RuntimeError, ValueError, OSError) as exc:
            hint = f"delete {path} to have it rebuilt from the installed packages, or reinstall them ({INSTALL_HINT})"
            raise VoiceError(f"The local speech model at {path} does not load ({exc})", hint) from None

    async def load(self) -> None:
        """Load the model now (it otherwise loads on the first transcription)."""
        await asyncio.to_thread(self.load_blocking)

    def transcribe_blocking(self, pcm: Pcm, language: str | None = None) -> str:
        """The text of ``pcm`` (in ``language`` when given, else the instance's); blocks: for worker threads."""
        if is_silent(pcm):
            return ""
        model = self.load_blocking()
        try:
            segments, info = model.transcribe(
                to_float32(pcm),
                language=language or self.language or self.learned_language,
                beam_size=1,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            text = " ".join(segment.text.strip() for segment in segments).strip()  # decoding happens here
        except (RuntimeError, ValueError) as exc:  # CTranslate2's (out of memory, a bad language code)
            raise VoiceError(f"Local speech to text failed: {exc}", "check --stt-language (e.g. en); retry") from None
        self._learn(info, pcm)
        return text

    def _learn(self, info: Any, pcm: Pcm) -> None:
        """Keep a confidently detected language: detection runs the encoder twice (~1.5 s a clip on 2 cores)."""
        if self.language or self.learned_language or pcm.seconds < LEARN_MIN_SECONDS:
            return
        if getattr(info, "language_probability", 0.0) >= LEARN_MIN_PROBABILITY:
            self.learned_language = info.language

    async def transcribe(self, pcm: Pcm) -> str:
        if not pcm.data:
            return ""
        return await asyncio.to_thread(self.transcribe_blocking, pcm)


class EndpointTranscriber:
    """The endpoint's ``/v1/audio/transcriptions`` (Whisper behind vLLM, speaches, LocalAI, OpenAI, …)."""

    def __init__(self, endpoint: Endpoint, model: str, *, language: str | None = None) -> None:
        self.endpoint = endpoint
        self.model = model
        self.language = spoken_language(language)
        self.name = f"endpoint {TRANSCRIPTIONS} (model {model})"

    async def transcribe(self, pcm: Pcm) -> str:
        if not pcm.data or await asyncio.to_thread(is_silent, pcm):  # a server's Whisper may hallucinate on silence
            return ""
        params: dict[str, Any] = {"language": self.language} if self.language else {}
        audio = ("speech.wav", to_wav(pcm), "audio/wav")
        try:
            result = await self.endpoint.request(
                lambda: self.endpoint.client.audio.transcriptions.create(
                    model=self.model, file=audio, response_format="json", **params
                ),
                self.model,
            )
        except EndpointError as exc:
            raise endpoint_voice_error(exc, self.model) from None
        text = result if isinstance(result, str) else getattr(result, "text", None)
        if not isinstance(text, str):
            raise VoiceError(f"{self.endpoint.base_url} answered {TRANSCRIPTIONS} without a text", LOCAL_HINT)
        return text.strip()


def endpoint_voice_error(error: EndpointError, model: str) -> VoiceError:
    """A failed transcription request as a :class:`VoiceError`; a missing route or model gets its own fix."""
    hint = f"{error.hint}; {LOCAL_HINT}" if error.hint else LOCAL_HINT
    if error.status in (404, 405):
        missing = f"the server has no {TRANSCRIPTIONS} or no model {model!r}"
        hint = f"{missing}: name one it lists with --stt-model, {LOCAL_HINT}"
    return VoiceError(f"Speech to text failed: {error.message}", hint, error.status)
