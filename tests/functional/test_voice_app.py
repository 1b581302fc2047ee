"""Voice in the app, end to end: F6 records from a real (file-backed ALSA) microphone, speech becomes text, and
F7's spoken reply reaches the (file-backed) speaker — checked by transcribing what was played."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.alsa import file_device
from tests.support.audio_server import audio_server
from tests.support.scripted_server import ScriptedServer, text_reply
from tests.support.speech import espeak_wav, word_error_rate
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.chat_log import AssistantMessage
from vt_tui.ui.widgets.composer import Composer
from vt_tui.ui.widgets.voice_bar import VoiceBar
from vt_tui.voice.stt import LocalWhisper
from vt_tui.voice.wav import Pcm

pytest.importorskip("pyaudio", reason="the voice extra is not installed")
pytest.importorskip("faster_whisper", reason="the voice extra is not installed")

QUESTION = "What is the tallest mountain in the world?"  # Whisper base hears espeak's "of France" as "and friends"
REPLY = (
    "Paris is the capital of France. It sits on the river Seine.\n\n"
    "```python\nprint('hello world')\n```\n\n"
    "Read more at https://example.com/paris today."
)
SIZE = (100, 30)


@pytest.fixture
def devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A microphone that says QUESTION (16 kHz mono raw) and a speaker that writes to a file."""
    from vt_tui.voice.whisper_model import cache_root

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_root().parent))  # the assembled model, not a new copy
    said = tmp_path / "question.wav"
    espeak_wav(QUESTION, said)
    mic, speaker = tmp_path / "mic.raw", tmp_path / "speaker.raw"
    subprocess.run(["sox", said, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", mic], check=True)
    file_device(monkeypatch, tmp_path / "home", mic, speaker)
    return mic, speaker


async def until(condition, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def talk(app: VtApp, pilot) -> VoiceBar:
    """F6, and F6 again unless the recording already stopped by itself.

    The file-backed device has no clock: it delivers the 5-minute limit (the speech, then silence) in about a
    second, so the recording usually ends by itself, through the same path as the second F6 — sometimes before
    the test looks, so the states are collected as they change.
    """
    bar = app.query_one(VoiceBar)
    seen: list[str] = []  # every state, since on a fast machine the whole take can end between two polls
    app.watch(bar, "state", lambda state: seen.append(state), init=False)
    await pilot.press("f6")
    await until(lambda: {"recording", "transcribing"} & set(seen), 10)
    if bar.state == "recording":
        assert "REC" in str(bar.render()) and bar.display
        await pilot.press("f6")
    return bar


def spoken(speaker: Path, rate: int) -> str:
    """What the app said through the speaker, back through Whisper (the file holds raw samples at ``rate``)."""
    return LocalWhisper(language="en").transcribe_blocking(Pcm(speaker.read_bytes(), rate, 1))


@pytest.mark.skipif(not Path("/usr/bin/sox").exists(), reason="needs sox")
async def test_talk_then_hear_the_reply_on_the_local_paths(devices, tmp_path: Path) -> None:
    _, speaker = devices
    with ScriptedServer(["chat-model"]) as server:  # no audio routes: local Whisper and espeak-ng
        server.queue(text_reply(REPLY, pieces=40))
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path / "data", tools="off", speak=True))
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            composer = app.query_one(Composer)
            composer.load_text("Quick question: ")
            bar = await talk(app, pilot)
            await until(lambda: bar.state == "idle" and composer.text != "Quick question: ")
            assert composer.text.startswith("Quick question: ")  # the transcript is added, for review
            heard = composer.text.removeprefix("Quick question: ")
            print(f"\nheard {heard!r}, WER {word_error_rate(QUESTION, heard):.2f}")
            assert word_error_rate(QUESTION, heard) <= 0.25
            assert server.chat_requests == [], "nothing is sent before Enter"

            await pilot.press("enter")
            await until(lambda: len(server.chat_requests) == 1)
            await app.workers.wait_for_complete()
            await until(lambda: not app.voice.speaking)
    words = spoken(speaker, 22_050).lower()
    print(f"spoken: {words!r}")
    assert "paris is the capital of france" in words and "today" in words
    assert "print" not in words and "hello world" not in words and "example" not in words


@pytest.mark.skipif(not Path("/usr/bin/sox").exists(), reason="needs sox")
async def test_on_an_endpoint_with_audio_routes_speech_goes_through_it(devices, tmp_path: Path) -> None:
    _, speaker = devices
    with audio_server(models=("chat-model", "whisper-base", "tts-espeak")) as server:
        settings = Settings(base_url=server.base_url, data_dir=tmp_path / "data", tools="off", voice_send=True)
        app = VtApp(settings)
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await pilot.press("f7")
            assert app.voice.speak and app.status.speak
            await talk(app, pilot)
            chats = lambda: [body for path, body in server.requests if path.endswith("/chat/completions")]  # noqa: E731
            await until(lambda: len(chats()) == 1)  # voice_send: sent without Enter
            await app.workers.wait_for_complete()
            await until(lambda: not app.voice.speaking)
            paths = [path for path, _ in server.requests]
    assert "/v1/audio/transcriptions" in paths and "/v1/audio/speech" in paths
    said = chats()[0]["messages"][-1]["content"]
    assert word_error_rate(QUESTION, said) <= 0.25
    assert "mountain" in spoken(speaker, 22_050).lower()  # the echoed question, spoken by the endpoint


async def test_with_no_sound_device_voice_says_so_and_text_goes_on(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.asoundrc: only the machine's own sound cards
    from vt_tui.voice.audio import list_devices

    if list_devices().of("input"):
        pytest.skip("this machine has a microphone")
    with ScriptedServer(["chat-model"]) as server:
        server.queue(text_reply("Here is a reply. It has two sentences."))
        app = VtApp(Settings(base_url=server.base_url, data_dir=tmp_path / "data", tools="off", speak=True))
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            composer = app.query_one(Composer)
            composer.load_text("typed, not spoken")
            await pilot.press("f6")
            await until(lambda: any("No audio input" in str(n.message) for n in app._notifications), 10)
            assert app.query_one(VoiceBar).state == "idle"
            assert composer.text == "typed, not spoken"

            await pilot.press("enter")  # speak is on, but there is no speaker: said once, then off
            await until(lambda: any("No audio output" in str(n.message) for n in app._notifications), 10)
            await app.workers.wait_for_complete()
            assert not app.voice.speak and not app.status.speak
            assert any("F7 turns them back on" in str(n.message) for n in app._notifications)
            assert "It has two sentences." in app.query(AssistantMessage).last().text


def ask_speak(base_url: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vt_tui", "ask", "--tools", "off", "--speak", "--base-url", base_url, "Hi"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ.copy())


@pytest.mark.skipif(not Path("/usr/bin/sox").exists(), reason="needs sox")
def test_ask_speak_prints_the_answer_and_reads_it_aloud(devices) -> None:
    _, speaker = devices
    with ScriptedServer(["chat-model"]) as server:
        server.queue(text_reply(REPLY))
        done = ask_speak(server.base_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Paris is the capital of France.") and "print('hello world')" in done.stdout
    words = spoken(speaker, 22_050).lower()
    assert "paris is the capital of france" in words and "print" not in words


def test_ask_speak_without_a_speaker_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    from vt_tui.voice.audio import list_devices

    if list_devices().of("output"):
        pytest.skip("this machine has a speaker")
    with ScriptedServer(["chat-model"]) as server:
        server.queue(text_reply("Paris is the capital of France. Lovely city."))
        done = ask_speak(server.base_url)
    assert done.returncode == 0
    assert done.stdout == "Paris is the capital of France. Lovely city.\n"
    assert done.stderr.count("No audio output (speaker) device") == 1
