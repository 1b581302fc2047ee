"""PCM helpers: WAV round trip, loudness, silence trimming."""

from __future__ import annotations

import math
import struct

import pytest

from vt_tui.voice.wav import Pcm, from_wav, level, to_wav, trim_silence


def tone(seconds: float, amplitude: int = 8000, rate: int = 16_000) -> bytes:
    return b"".join(
        struct.pack("<h", int(amplitude * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )


def silence(seconds: float, rate: int = 16_000) -> bytes:
    return b"\0\0" * int(seconds * rate)


def test_wav_round_trip_keeps_samples_rate_and_channels() -> None:
    pcm = Pcm(tone(0.1, rate=22_050), 22_050, 1)
    back = from_wav(to_wav(pcm))
    assert back == pcm and back.seconds == pytest.approx(0.1, abs=1e-4)


def test_from_wav_refuses_what_is_not_16_bit_pcm() -> None:
    with pytest.raises(ValueError, match="not a PCM WAV"):
        from_wav(b"RIFF....WAVEjunk")


def test_level_is_zero_for_silence_and_rises_with_loudness() -> None:
    assert level(silence(0.1)) == 0.0
    assert level(b"") == 0.0
    quiet, loud = level(tone(0.1, 300)), level(tone(0.1, 30000))
    assert 0.0 < quiet < loud <= 1.0
    assert loud == pytest.approx(1 + 20 * math.log10(30000 / 32768 / math.sqrt(2)) / 60, abs=0.01)


def test_trim_silence_keeps_the_sound_and_a_margin() -> None:
    pcm = Pcm(silence(3.0) + tone(1.0) + silence(5.0))
    trimmed = trim_silence(pcm, margin_s=0.2)
    assert trimmed.seconds == pytest.approx(1.4, abs=0.05)
    assert tone(1.0) in trimmed.data


def test_trim_silence_of_only_silence_is_empty() -> None:
    assert trim_silence(Pcm(silence(2.0))).data == b""
