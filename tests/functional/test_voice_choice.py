"""Which speech paths a session picks, read from a real server's /openapi.json and /v1/models."""

from __future__ import annotations

import pytest

from tests.support.audio_server import audio_server
from tests.support.scripted_server import ScriptedServer
from vt_tui.core.endpoint import Endpoint
from vt_tui.settings import Settings
from vt_tui.voice.choice import SPEECH, TRANSCRIPTIONS, audio_routes, choose_stt, choose_tts, synthesizer, transcriber

pytest.importorskip("faster_whisper", reason="the voice extra is not installed")


async def choices(base_url: str, **settings):
    endpoint = Endpoint(base_url)
    try:
        await endpoint.list_models()
        routes = await audio_routes(endpoint)
        chosen = Settings(base_url=base_url, **settings)
        return routes, choose_stt(chosen, endpoint, routes), choose_tts(chosen, endpoint, routes), endpoint
    finally:
        await endpoint.aclose()


async def test_an_endpoint_with_audio_routes_and_models_serves_both_directions() -> None:
    with audio_server(models=("whisper-base", "tts-espeak", "chat-model")) as server:
        routes, stt, tts, endpoint = await choices(server.base_url)
    assert routes == {TRANSCRIPTIONS, SPEECH}
    assert (stt.kind, stt.model) == ("endpoint", "whisper-base")
    assert (tts.kind, tts.model) == ("endpoint", "tts-espeak")
    assert type(transcriber(stt, Settings(), endpoint)).__name__ == "EndpointTranscriber"
    assert type(synthesizer(tts, Settings(), endpoint)).__name__ == "EndpointSpeech"


async def test_a_transcription_route_without_a_whisper_model_is_passed_over() -> None:
    with audio_server(tts=False, models=("chat-model",)) as server:
        routes, stt, tts, _ = await choices(server.base_url)
    assert routes == {TRANSCRIPTIONS}
    assert stt.kind == "local" and "does not offer" in stt.why
    assert tts.kind == "espeak" and SPEECH in tts.why


async def test_a_named_model_is_used_on_a_listed_route() -> None:
    with audio_server(tts=False, models=("chat-model", "my-asr")) as server:
        _, stt, _, _ = await choices(server.base_url, stt_model="my-asr")
    assert (stt.kind, stt.model) == ("endpoint", "my-asr")


async def test_an_engine_without_openapi_gets_the_local_paths() -> None:
    with ScriptedServer(["chat-model"]) as server:
        routes, stt, tts, endpoint = await choices(server.base_url)
    assert routes == set()
    assert stt.kind == "local" and tts.kind == "espeak"
    assert type(transcriber(stt, Settings(), endpoint)).__name__ == "LocalWhisper"
    assert type(synthesizer(tts, Settings(), endpoint)).__name__ == "Espeak"


async def test_settings_force_a_path_or_turn_it_off() -> None:
    with audio_server(models=("whisper-base", "tts-espeak")) as server:
        _, stt, tts, endpoint = await choices(server.base_url, stt="local", tts="off")
        assert stt.kind == "local" and "your setting" in stt.why
        # off wins over a server that could speak: no synthesizer even with the endpoint and its speech route
        assert tts.kind == "off" and synthesizer(tts, Settings(), endpoint) is None
        _, stt, tts, endpoint = await choices(server.base_url, stt="off", tts="espeak")
        assert stt.kind == "off" and transcriber(stt, Settings(), endpoint) is None
        assert tts.kind == "espeak" and type(synthesizer(tts, Settings(), endpoint)).__name__ == "Espeak"
    with ScriptedServer(["chat-model"]) as server:
        _, stt, _, _ = await choices(server.base_url, stt="endpoint")
    assert stt.kind == "local" and "stt = endpoint, but" in stt.why


async def test_no_server_answering_means_the_local_paths() -> None:
    endpoint = Endpoint("http://127.0.0.1:9/v1")
    try:
        assert await audio_routes(endpoint) == set()
    finally:
        await endpoint.aclose()
