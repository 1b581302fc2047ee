"""16-bit PCM and WAV helpers (standard library only)."""

from __future__ import annotations

import io
import math
import operator
import wave
from array import array
from dataclasses import dataclass

from vt_tui.voice import SAMPLE_RATE


@dataclass(frozen=True)
class Pcm:
    """Mono or multi-channel signed 16-bit little-endian samples."""

    data: bytes
    rate: int = SAMPLE_RATE
    channels: int = 1

    @property
    def seconds(self) -> float:
        return len(self.data) / (2 * self.channels * self.rate) if self.rate else 0.0


def to_wav(pcm: Pcm) -> bytes:
    """WAV file bytes for ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(pcm.channels)
        w.setsampwidth(2)
        w.setframerate(pcm.rate)
        w.writeframes(pcm.data)
    return out.getvalue()


def from_wav(data: bytes) -> Pcm:
    """The samples of a 16-bit PCM WAV file; ``ValueError`` for anything else."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getsampwidth() != 2:
                raise ValueError(f"WAV has {8 * w.getsampwidth()}-bit samples; 16-bit PCM expected")
            return Pcm(w.readframes(w.getnframes()), w.getframerate(), w.getnchannels())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file ({exc})") from None


def level(chunk: bytes) -> float:
    """Loudness of a chunk of 16-bit samples, 0.0 (silence) to 1.0 (full scale), on a dB scale from -60 dB."""
    samples = array("h", chunk[: len(chunk) - len(chunk) % 2])
    if not samples:
        return 0.0
    rms = math.sqrt(sum(map(operator.mul, samples, samples)) / len(samples)) / 32768.0
    if rms <= 0.001:
        return 0.0
    return min(1.0, max(0.0, (20 * math.log10(rms) + 60) / 60))


def trim_silence(pcm: Pcm, threshold: float = 0.25, margin_s: float = 0.25) -> Pcm:
    """``pcm`` without its silent start and end (below ``threshold`` on :func:`level`'s scale, -45 dBFS).

    Keeps ``margin_s`` either side of the sound. All silence gives an empty Pcm. Speech-to-text is faster on less
    audio, and Whisper tends to invent words ("Thank you.") in long silences.
    """
    frame = 2 * pcm.channels * (pcm.rate // 50)  # 20 ms
    if not pcm.data or frame <= 0:
        return pcm
    loud = [i for i in range(0, len(pcm.data), frame) if level(pcm.data[i : i + frame]) >= threshold]
    if not loud:
        return Pcm(b"", pcm.rate, pcm.channels)
    margin = int(margin_s * 50) * frame
    start, end = max(0, loud[0] - margin), min(len(pcm.data), loud[-1] + frame + margin)
    return Pcm(pcm.data[start:end], pcm.rate, pcm.channels)
