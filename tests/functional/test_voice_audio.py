"""PyAudio for real, on an ALSA device backed by files (tests/support/alsa.py), and with no device at all."""

from __future__ import annotations

import asyncio
import math
import struct
import threading
from pathlib import Path

import pytest

from tests.support.alsa import file_device
from vt_tui.voice.audio import (
    PA_DEVICE_UNAVAILABLE,
    PA_INVALID_CHANNELS,
    Device,
    Devices,
    Recorder,
    SpeakerPlayer,
    explain,
    list_devices,
    pick,
)
from vt_tui.voice.errors import VoiceError
from vt_tui.voice.wav import Pcm, to_wav

pytest.importorskip("pyaudio", reason="PyAudio needs the voice extra (make test installs it)")


def tone(seconds: float, hz: float = 440.0, amplitude: int = 8000, rate: int = 16_000) -> bytes:
    n = int(seconds * rate)
    return b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * hz * i / rate))) for i in range(n))


@pytest.fixture
def device_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    infile, outfile = tmp_path / "mic.raw", tmp_path / "speaker.raw"
    infile.write_bytes(tone(1.0))
    file_device(monkeypatch, tmp_path / "home", infile, outfile)
    return infile, outfile


def test_the_file_device_is_listed_with_a_default(device_files) -> None:
    devices = list_devices()
    names = [d.name for d in devices.of("input")]
    assert "vtmic" in names and "default" in names
    assert devices.default_input is not None and devices.default_output is not None
    assert pick(devices, None, "input").index == devices.default_input
    assert pick(devices, "speaker", "output").name == "vtspeaker"
    assert pick(devices, str(devices.default_output), "output").index == devices.default_output


def test_an_unknown_device_name_lists_what_exists(device_files) -> None:
    with pytest.raises(VoiceError) as caught:
        pick(list_devices(), "usb headset", "input")
    message = str(caught.value)
    assert "--audio-in 'usb headset'" in message and "vtmic" in message


def test_recording_reads_the_microphone_with_levels_and_stops_at_its_limit(device_files) -> None:
    infile, _ = device_files
    levels: list[float] = []
    limit = threading.Event()
    recorder = Recorder(on_level=levels.append, max_seconds=0.5, on_limit=limit.set)
    device = recorder.start()
    assert device.name == "default" and recorder.recording
    assert limit.wait(5), "the recording never reached its limit"
    pcm = recorder.stop()
    assert not recorder.recording
    assert (pcm.rate, pcm.channels) == (16_000, 1)
    assert pcm.seconds == pytest.approx(0.5)
    assert pcm.data == infile.read_bytes()[: len(pcm.data)], "the samples are the file's, unchanged"
    assert levels and 0.6 < max(levels) <= 1.0  # a -12 dBFS tone


def test_stop_without_start_is_empty() -> None:
    assert Recorder().stop() == Pcm(b"")


def test_playback_writes_the_samples_to_the_device(device_files) -> None:
    _, outfile = device_files
    samples = tone(0.3, hz=220)
    asyncio.run(SpeakerPlayer().play(to_wav(Pcm(samples))))
    assert outfile.read_bytes() == samples


def test_a_stopped_player_writes_nothing_more(device_files) -> None:
    _, outfile = device_files
    player = SpeakerPlayer()

    async def play_and_stop() -> None:
        sound = player.play(to_wav(Pcm(tone(3.0))))
        player.stop()  # Esc after the sound was asked for, before its thread wrote anything
        await sound
        await player.play(to_wav(Pcm(tone(0.2))))  # the next sound plays in full

    asyncio.run(play_and_stop())
    assert outfile.read_bytes() == tone(0.2)


def test_no_sound_device_says_so_and_that_text_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.asoundrc: only the machine's own cards
    devices = list_devices()
    if devices.of("input"):
        pytest.skip("this machine has a sound card")
    with pytest.raises(VoiceError, match=r"No audio input \(microphone\) device.*text works"):
        Recorder().start()
    with pytest.raises(VoiceError, match="No audio output"):
        asyncio.run(SpeakerPlayer().play(to_wav(Pcm(tone(0.1)))))


def test_portaudio_errors_are_said_in_words() -> None:
    mic = Device(3, "USB mic", 1, 0, 48000.0)
    busy = explain(OSError(PA_DEVICE_UNAVAILABLE, "Device unavailable"), mic, "input")
    assert "busy" in str(busy) and "USB mic" in str(busy) and "--audio-in" in str(busy)
    odd = explain(OSError(PA_INVALID_CHANNELS, "Invalid number of channels"), mic, "input")
    assert "16 kHz" in str(odd)
    other = explain(OSError(-9999, "Unanticipated host error"), mic, "output")
    assert "Unanticipated host error" in str(other) and "--audio-out" in str(other)


def test_pick_with_no_devices() -> None:
    with pytest.raises(VoiceError, match="over SSH"):
        pick(Devices((), None, None), None, "output")
