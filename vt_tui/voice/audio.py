"""Audio in and out through PyAudio (PortAudio), with errors a person can act on.

PyAudio is opened afresh for each listing, recording and sound, so a device plugged in (or an ``~/.asoundrc``
written) after start-up is seen. ALSA and JACK print probing noise on stderr while PortAudio starts; it is kept
off the terminal. A device is chosen by the ``audio_in`` / ``audio_out`` setting: empty for the system default,
a number for a PortAudio index, or part of a device name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from vt_tui.voice import SAMPLE_RATE
from vt_tui.voice.errors import VoiceError
from vt_tui.voice.wav import Pcm, from_wav, level

Direction = Literal["input", "output"]
CHUNK_FRAMES = 1_600  # 0.1 s at 16 kHz: the level meter's update rate
MAX_SECONDS = 300.0  # one push-to-talk recording stops by itself after 5 minutes (9.6 MB)
PYAUDIO_HINT = "apt-get install portaudio19-dev, then pip install 'vt-tui[voice]'"
# PortAudio error codes (portaudio.h) that mean something to a person.
PA_INVALID_DEVICE = -9996
PA_DEVICE_UNAVAILABLE = -9985
PA_INVALID_CHANNELS = -9998
PA_INVALID_RATE = -9997


@dataclass(frozen=True)
class Device:
    """One PortAudio device."""

    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float
    host_api: str = ""

    def channels(self, direction: Direction) -> int:
        return self.inputs if direction == "input" else self.outputs


@dataclass(frozen=True)
class Devices:
    """The devices PortAudio sees, and its default input and output (None when there is none)."""

    all: tuple[Device, ...]
    default_input: int | None
    default_output: int | None

    def of(self, direction: Direction) -> list[Device]:
        return [d for d in self.all if d.channels(direction) > 0]

    def default(self, direction: Direction) -> int | None:
        return self.default_input if direction == "input" else self.default_output


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send fd 2 to /dev/null for a moment: ALSA/JACK write to it directly, under Textual's screen."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError:
        raise VoiceError("PyAudio is not installed", PYAUDIO_HINT) from None
    return pyaudio


@contextlib.contextmanager
def portaudio() -> Iterator[Any]:
    """A started ``pyaudio.PyAudio``, terminated on exit."""
    module = _pyaudio()
    with _quiet_stderr():
        pa = module.PyAudio()
    try:
        yield pa
    finally:
        with _quiet_stderr():
            pa.terminate()


def _default_index(pa: Any, direction: Direction) -> int | None:
    try:
        info = pa.get_default_input_device_info() if direction == "input" else pa.get_default_output_device_info()
    except OSError:
        return None
    return int(info["index"])


def _read_devices(pa: Any) -> Devices:
    found = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        api = pa.get_host_api_info_by_index(info["hostApi"])["name"]
        found.append(
            Device(
                i,
                str(info["name"]),
                int(info["maxInputChannels"]),
                int(info["maxOutputChannels"]),
                float(info["defaultSampleRate"]),
                str(api),
            )
        )
    return Devices(tuple(found), _default_index(pa, "input"), _default_index(pa, "output"))


def list_devices() -> Devices:
    """Every device PortAudio sees now."""
    with portaudio() as pa:
        return _read_devices(pa)


def pick(devices: Devices, spec: str | None, direction: Direction) -> Device:
    """The device for a setting value; a VoiceError that says what exists when there is none."""
    usable = devices.of(direction)
    word = "input (microphone)" if direction == "input" else "output (speaker)"
    flag = "--audio-in" if direction == "input" else "--audio-out"
    if not usable:
        raise VoiceError(
            f"No audio {word} device: PortAudio sees none (common over SSH). Voice is off; text works as usual."
        )
    spec = (spec or "").strip()
    if not spec:
        index = devices.default(direction)
        chosen = next((d for d in usable if d.index == index), None)
        return chosen or usable[0]
    if spec.isdigit():
        chosen = next((d for d in usable if d.index == int(spec)), None)
    else:
        chosen = next((d for d in usable if spec.lower() in d.name.lower()), None)
    if chosen is None:
        names = ", ".join(f"{d.index}: {d.name}" for d in usable)
        raise VoiceError(f"No {word} device matches {flag} {spec!r}. Devices: {names}")
    return chosen


def explain(exc: BaseException, device: Device, direction: Direction) -> VoiceError:
    """A PortAudio failure to open or use ``device``, said so a person knows what to do."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    what = f"{direction} device {device.index} ({device.name})"
    flag = "--audio-in" if direction == "input" else "--audio-out"
    if code == PA_DEVICE_UNAVAILABLE:
        return VoiceError(f"The {what} is busy: another program is using it. Close it or pick another with {flag}.")
    if code in (PA_INVALID_CHANNELS, PA_INVALID_RATE):
        return VoiceError(f"The {what} cannot do 16 kHz 16-bit mono ({exc.args[-1]}). Pick another with {flag}.")
    if code == PA_INVALID_DEVICE:
        return VoiceError(f"The {what} is gone (unplugged?). Pick another with {flag}.")
    detail = exc.args[-1] if exc.args else exc
    return VoiceError(f"Could not open the {what}: {detail}. Pick another with {flag}.")


def _open_stream(pa: Any, device: Device, direction: Direction, **options: Any) -> Any:
    """A 16-bit PortAudio stream on ``device``; a failure said in words (:func:`explain`)."""
    try:
        with _quiet_stderr():
            return pa.open(
                format=_pyaudio().paInt16, **{direction: True, f"{direction}_device_index": device.index}, **options
            )
    except (OSError, ValueError) as exc:
        raise explain(exc, device, direction) from None


class Recorder:
    """Push-to-talk recording: ``start()`` opens the microphone, ``stop()`` returns what it heard.

    PortAudio reads in its own thread; ``on_level`` is called from that thread about ten times a second with the
    chunk's loudness (0–1), for a level meter. At ``max_seconds`` recording ends by itself and ``on_limit`` is
    called (from PortAudio's thread); ``stop()`` still returns the audio.
    """

    def __init__(
        self,
        device: str | None = None,
        on_level: Callable[[float], None] | None = None,
        *,
        max_seconds: float = MAX_SECONDS,
        on_limit: Callable[[], None] | None = None,
    ) -> None:
        self.device_spec = device
        self.on_level = on_level
        self.on_limit = on_limit
        self.max_bytes = 2 * int(max_seconds * SAMPLE_RATE)
        self.full = threading.Event()
        self._size = 0
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._pa: Any = None
        self._stream: Any = None

    @property
    def recording(self) -> bool:
        return self._stream is not None

    def start(self) -> Device:
        """Open the input device and start recording (blocks for the few ms PortAudio takes)."""
        with _quiet_stderr():
            pa = _pyaudio().PyAudio()
        try:
            device = pick(_read_devices(pa), self.device_spec, "input")
            self._chunks, self._size = [], 0  # before open: the stream starts filling at once
            self.full.clear()
            stream = _open_stream(
                pa, device, "input", channels=1, rate=SAMPLE_RATE, frames_per_buffer=CHUNK_FRAMES,
                stream_callback=self._on_chunk,
            )  # fmt: skip
        except BaseException:
            pa.terminate()
            raise
        self._pa, self._stream = pa, stream
        return device

    def _on_chunk(self, data: bytes | None, frames: int, time_info: Any, status: int) -> tuple[None, int]:
        module = _pyaudio()
        if self.full.is_set():
            return None, module.paComplete
        if data:
            data = data[: self.max_bytes - self._size]
            with self._lock:
                self._chunks.append(data)
                self._size += len(data)
            if self.on_level is not None:
                self.on_level(level(data))
        if self._size >= self.max_bytes:
            self.full.set()
            if self.on_limit is not None:
                self.on_limit()
            return None, module.paComplete
        return None, module.paContinue

    def stop(self) -> Pcm:
        """Stop recording and return the audio (16 kHz mono 16-bit); empty if nothing was started."""
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.stop_stream()
            stream.close()
        if pa is not None:
            pa.terminate()
        with self._lock:
            data, self._chunks = b"".join(self._chunks), []
        return Pcm(data, SAMPLE_RATE, 1)


class SpeakerPlayer:
    """Plays WAV sounds one at a time on an output device; ``stop()`` cuts the one playing (Esc)."""

    def __init__(self, device: str | None = None) -> None:
        self.device_spec = device
        self._generation = 0  # stop() moves it on; a sound asked for before that is not played further

    def play(self, wav: bytes) -> Awaitable[None]:
        """Play ``wav`` to the end, or until ``stop()``; PortAudio's blocking writes run in a worker thread.

        A plain function returning the awaitable, so a ``stop()`` between asking and awaiting still counts.
        """
        return asyncio.to_thread(self._play, from_wav(wav), self._generation)

    def stop(self) -> None:
        self._generation += 1

    def _play(self, pcm: Pcm, generation: int) -> None:
        with portaudio() as pa:
            device = pick(_read_devices(pa), self.device_spec, "output")
            stream = _open_stream(pa, device, "output", channels=pcm.channels, rate=pcm.rate)
            try:
                step = 2 * pcm.channels * (pcm.rate // 20)  # 50 ms a write, so stop() acts within 50 ms
                for start in range(0, len(pcm.data), step):
                    if self._generation != generation:
                        break
                    stream.write(pcm.data[start : start + step])
            finally:
                stream.close()
