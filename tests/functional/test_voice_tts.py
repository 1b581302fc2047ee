"""Text to speech for real: espeak-ng (local, or behind a real HTTP endpoint) speaks, and the narrator plays the
sentences of a streaming reply in order through a player that writes each sound to a file and waits out a scaled
share of its length."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.audio_server import SPEECH, audio_server
from tests.support.loop_turns import LOOP_TURNS_AT_ONCE, LoopTurns
from tests.support.ports import closed_port
from tests.support.speech import have_espeak
from vt_tui.core.endpoint import Endpoint
from vt_tui.voice.errors import VoiceError
from vt_tui.voice.narrator import Narrator
from vt_tui.voice.speakable import SpeechSplitter, speakable
from vt_tui.voice.tts import EndpointSpeech, Espeak, Synthesizer
from vt_tui.voice.wav import from_wav, level

pytestmark = pytest.mark.skipif(not have_espeak(), reason="needs espeak-ng")

FOX = "The quick brown fox jumps over the lazy dog."
REPLY = (
    "Hello there. This is the second sentence, and it is spoken after the first one.\n\n"
    "```python\nprint('This code is not read aloud.')\n```\n"
    "Here is a third sentence, with a [link](https://example.com/page) in it. And that is all for now."
)


def assert_speech(wav: bytes, words: int) -> None:
    """A 16-bit WAV as long as ``words`` spoken words take (1.5 to 5 a second), and not silent."""
    pcm = from_wav(wav)
    assert pcm.channels == 1 and pcm.seconds > 0
    assert 1.5 <= words / pcm.seconds <= 5, f"{words} words in {pcm.seconds:.2f} s"
    assert level(pcm.data) > 0.3


@dataclass
class FilePlayer:
    """A real player of the Player protocol, without a sound card: each sound goes to a numbered WAV file and
    "plays" for ``scale`` times its length. Like a player whose sound card is fed from a thread, cancelling
    ``play`` does not end the sound; only ``stop()`` does."""

    folder: Path
    scale: float = 0.1
    played: list[bytes] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    turns: LoopTurns | None = None  # when given, start_turns/end_turns note its count at each start and end
    start_turns: list[int] = field(default_factory=list)
    end_turns: list[int] = field(default_factory=list)
    _stopped: asyncio.Event | None = None

    async def play(self, wav: bytes) -> None:
        self.starts.append(time.monotonic())
        if self.turns is not None:
            self.start_turns.append(self.turns.count)
        (self.folder / f"{len(self.played):03d}.wav").write_bytes(wav)
        self.played.append(wav)
        self._stopped = asyncio.Event()
        await asyncio.shield(self._sound(self._stopped, from_wav(wav).seconds * self.scale))

    async def _sound(self, stopped: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), seconds)
        self.ends.append(time.monotonic())
        if self.turns is not None:
            self.end_turns.append(self.turns.count)

    def stop(self) -> None:
        if self._stopped is not None:
            asyncio.get_running_loop().call_soon_threadsafe(self._stopped.set)


@dataclass
class TimedSynth:
    """A synthesizer that notes when each synthesis ran."""

    inner: Synthesizer
    runs: list[tuple[str, float, float]] = field(default_factory=list)
    name: str = "timed"

    async def synthesize(self, text: str) -> bytes:
        start = time.monotonic()
        wav = await self.inner.synthesize(text)
        self.runs.append((text, start, time.monotonic()))
        return wav


async def stream_reply(narrator: Narrator, reply: str, size: int = 4, delay: float = 0.01) -> float:
    """Feed ``reply`` the way a model streams it; the moment the last delta arrived."""
    splitter = SpeechSplitter()
    for i in range(0, len(reply), size):
        for sentence in splitter.feed(reply[i : i + size]):
            narrator.say(sentence)
        await asyncio.sleep(delay)
    for sentence in splitter.flush():
        narrator.say(sentence)
    return time.monotonic()


async def until(condition: Callable[[], object], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.002)


# espeak-ng


async def test_espeak_speaks_a_sentence_quickly() -> None:
    start = time.monotonic()
    wav = await Espeak().synthesize(FOX)
    assert time.monotonic() - start < 1.0
    assert_speech(wav, 9)
    assert from_wav(wav).rate == 22050


@pytest.mark.parametrize("text", ["--help", "-v nosuch --version please", "-f /etc/passwd", "[[h@loU]] there"])
async def test_text_that_looks_like_options_is_spoken_not_obeyed(text: str) -> None:
    wav = await Espeak().synthesize(text)  # as options, these print text, fail, or read a file
    pcm = from_wav(wav)
    assert 0.3 < pcm.seconds < 4 and level(pcm.data) > 0.3


async def test_a_slower_voice_takes_longer() -> None:
    fast, slow = await asyncio.gather(Espeak(speed_wpm=250).synthesize(FOX), Espeak(speed_wpm=120).synthesize(FOX))
    assert from_wav(slow).seconds > 1.5 * from_wav(fast).seconds


async def test_empty_text_is_silence_without_running_espeak() -> None:
    pcm = from_wav(await Espeak(program="no-such-espeak").synthesize(" \n "))
    assert pcm.data == b""


async def test_missing_espeak_says_how_to_install_it() -> None:
    with pytest.raises(VoiceError) as caught:
        await Espeak(program="no-such-espeak").synthesize("Hello.")
    assert "apt-get install espeak-ng" in str(caught.value)


async def test_an_unknown_voice_says_how_to_list_voices() -> None:
    with pytest.raises(VoiceError) as caught:
        await Espeak(voice="xx-nosuch").synthesize("Hello.")
    assert "xx-nosuch" in caught.value.message and "espeak-ng --voices" in caught.value.hint


def espeak_children() -> list[int]:
    """Our espeak-ng child processes, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().split("(", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        if name.startswith("espeak") and int(fields.split()[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


async def test_cancelling_a_synthesis_kills_espeak() -> None:
    task = asyncio.create_task(Espeak().synthesize(FOX * 200))
    await until(lambda: espeak_children())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert espeak_children() == []


# the endpoint's /v1/audio/speech


async def test_endpoint_speech_asks_for_wav_and_gets_speech() -> None:
    with audio_server(stt=False) as server:
        endpoint = Endpoint(server.base_url)
        try:
            synth = EndpointSpeech(endpoint, "espeak", "alloy")
            wav = await synth.synthesize(FOX)
            assert await synth.synthesize("   ") == await Espeak().synthesize("")  # nothing sent for no text
        finally:
            await endpoint.aclose()
    assert_speech(wav, 9)
    assert server.requests == [
        (SPEECH, {"model": "espeak", "voice": "alloy", "input": FOX, "response_format": "wav"}),
    ]


async def test_endpoint_without_the_model_names_it_and_the_fix() -> None:
    with audio_server(stt=False) as server:
        endpoint = Endpoint(server.base_url)
        try:
            with pytest.raises(VoiceError) as caught:
                await EndpointSpeech(endpoint, "no-such-tts", "alloy").synthesize("Hello.")
        finally:
            await endpoint.aclose()
    assert caught.value.status == 404
    assert "no-such-tts" in caught.value.hint and "--tts-model" in caught.value.hint and "espeak" in caught.value.hint


async def test_endpoint_without_the_route_says_so() -> None:
    with audio_server(stt=False, tts=False) as server:
        endpoint = Endpoint(server.base_url)
        try:
            with pytest.raises(VoiceError) as caught:
                await EndpointSpeech(endpoint, "espeak", "alloy").synthesize("Hello.")
        finally:
            await endpoint.aclose()
    assert caught.value.status == 404 and SPEECH in caught.value.hint


async def test_endpoint_down_says_so() -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{closed_port()}/v1")
    try:
        with pytest.raises(VoiceError) as caught:
            await EndpointSpeech(endpoint, "espeak", "alloy").synthesize("Hello.")
    finally:
        await endpoint.aclose()
    assert "Cannot connect" in caught.value.message and "espeak" in caught.value.hint


# the narrator


async def test_narrator_speaks_a_streaming_reply_in_order_and_starts_early(tmp_path: Path) -> None:
    player = FilePlayer(tmp_path / "sounds")
    player.folder.mkdir()
    narrator = Narrator(Espeak(), player)
    last_delta = await stream_reply(narrator, REPLY)
    await narrator.wait()
    sentences = speakable(REPLY)
    assert len(sentences) == 4 and not any("code" in s or "http" in s for s in sentences)
    assert player.played == [await Espeak().synthesize(s) for s in sentences]
    assert sorted(p.name for p in player.folder.iterdir()) == ["000.wav", "001.wav", "002.wav", "003.wav"]
    assert narrator.first_audio_at is not None and narrator.first_audio_at < last_delta - 0.2
    assert not narrator.speaking


async def test_narrator_synthesises_the_next_sentence_while_one_plays(tmp_path: Path) -> None:
    turns = LoopTurns()
    player, synth = FilePlayer(tmp_path, scale=0.2, turns=turns), TimedSynth(Espeak())
    narrator = Narrator(synth, player)
    turns.start()
    for sentence in ("First sentence here.", "The second one follows.", "And a third to end."):
        narrator.say(sentence)
    assert narrator.speaking
    await narrator.wait()
    turns.stop()
    assert [run[0] for run in synth.runs] == ["First sentence here.", "The second one follows.", "And a third to end."]
    for n in (1, 2):
        assert synth.runs[n][2] < player.ends[n - 1]  # ready before the sound before it ended
        # ...so the next sound starts as the last ends: within a few event-loop turns (counted: CI may be busy)
        assert 0 <= player.start_turns[n] - player.end_turns[n - 1] < LOOP_TURNS_AT_ONCE


async def test_stop_silences_at_once_and_drops_the_rest(tmp_path: Path) -> None:
    player = FilePlayer(tmp_path, scale=1.0)
    narrator = Narrator(Espeak(), player)
    for sentence in (FOX, "This sentence is never heard.", "Nor this one."):
        narrator.say(sentence)
    await until(lambda: player.starts)
    await asyncio.sleep(0.05)
    stopped = time.monotonic()
    narrator.stop()
    assert not narrator.speaking and narrator.first_audio_at is None
    await until(lambda: player.ends)
    sound = from_wav(player.played[0]).seconds * player.scale
    assert player.ends[0] - stopped < min(1.0, sound / 2), "the sound must stop when told, not play out"
    await asyncio.sleep(0.2)
    assert len(player.played) == 1
    player.scale = 0.1
    narrator.say("A new reply.")  # and it speaks again afterwards
    await narrator.wait()
    assert len(player.played) == 2 and narrator.first_audio_at is not None
    await narrator.aclose()


async def test_a_failure_is_reported_once_and_speech_stops(tmp_path: Path) -> None:
    errors: list[VoiceError] = []
    player = FilePlayer(tmp_path)
    narrator = Narrator(Espeak(voice="xx-nosuch"), player, on_error=errors.append)
    for sentence in ("One.", "Two.", "Three."):
        narrator.say(sentence)
    await narrator.wait()
    narrator.say("Four.")
    assert not narrator.speaking
    assert len(errors) == 1 and "xx-nosuch" in str(errors[0]) and narrator.error is errors[0]
    assert player.played == []
    narrator.stop()  # the next reply tries again
    narrator.synth = Espeak()
    narrator.say("Five.")
    await narrator.wait()
    assert len(player.played) == 1 and len(errors) == 1


async def test_a_player_failure_is_a_voice_error_too(tmp_path: Path) -> None:
    errors: list[VoiceError] = []
    narrator = Narrator(Espeak(), FilePlayer(tmp_path / "missing"), on_error=errors.append)
    narrator.say("Hello.")
    await narrator.wait()
    assert len(errors) == 1 and "FileNotFoundError" in errors[0].message
