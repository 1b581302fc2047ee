"""16-bit PCM and WAV helpers (standard library only)."""

from __future__ import annotations

import io
import math
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
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0
    if rms <= 0.001:
        return 0.0
    return min(1.0, max(0.0, (20 * math.log10(rms) + 60) / 60))
