"""`vt-tui ask` as a user runs it: a subprocess against the scripted loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.metrics_server import MetricsServer, fixture
from tests.support.ports import closed_port
from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui import paths


def ask(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Plain chat: with tools on, the scripted (generic) server would get the text protocol's system prompt."""
    return subprocess.run(
        [sys.executable, "-m", "vt_tui", "ask", "--tools", "off", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_plain_text_on_a_pipe_with_flags_in_the_request(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("Paris is the capital."))
    result = ask("--base-url", scripted.base_url, "--system", "Be brief.", "--temperature", "0", "--max-tokens",
                 "33", "What", "is", "the", "capital?")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Paris is the capital.\n"
    body = scripted.chat_requests[-1]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital?"},
    ]
    assert body["temperature"] == 0 and body["max_tokens"] == 33


def test_question_from_stdin_and_json_events(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("one two three"))
    result = ask("--base-url", scripted.base_url, "--json", stdin="count please\n")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["type"] == "TurnStarted" and events[-1]["type"] == "TurnFinished"
    assert events[-1]["text"] == "one two three" and events[-1]["stats"]["tokens_source"] == "counted"
    assert scripted.chat_requests[-1]["messages"][-1]["content"] == "count please"


def test_failure_is_one_line_and_non_zero(scripted: ScriptedServer) -> None:
    scripted.queue(Reply(status=401, body={"detail": "Invalid API key."}))
    result = ask("--base-url", scripted.base_url, "--api-key", "sk-wrong-key", "hi")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Invalid API key." in result.stderr
    assert "sk-wrong-key" not in result.stderr + result.stdout, "the key must never be shown"


def test_connection_refused_says_how_to_fix() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result = ask("--base-url", url, "hi")
    assert result.returncode == 1 and url in result.stderr and "--base-url" in result.stderr
    assert "Traceback" not in result.stderr


def test_partial_reply_is_kept_on_a_cut_stream(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("half of an answer that never ends", cut_after=4))
    result = ask("--base-url", scripted.base_url, "go")
    assert result.returncode == 1 and result.stdout.startswith("half of an ")
    assert "cut mid-reply" in result.stderr


def test_no_question_is_a_usage_error() -> None:
    result = ask(stdin="")
    assert result.returncode == 2 and "no question" in result.stderr


def test_a_personas_tool_list_is_what_the_model_is_offered(scripted: ScriptedServer) -> None:
    prompts = paths.config_dir() / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "counter.md").write_text("---\ntools: [calculator]\n---\nYou count.\n", encoding="utf-8")
    scripted.queue(text_reply("42."))
    result = ask("--base-url", scripted.base_url, "--engine", "openai", "--tools", "native", "--persona", "counter",
                 "6*7?")  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = scripted.chat_requests[-1]
    assert [t["function"]["name"] for t in body["tools"]] == ["calculator"], "web_search and web_fetch are not offered"
    assert body["messages"][0] == {"role": "system", "content": "You count."}


def test_flags_win_over_the_persona_and_the_persona_over_defaults(scripted: ScriptedServer) -> None:
    scripted.queue(text_reply("ok"), text_reply("ok"))
    assert ask("--base-url", scripted.base_url, "--persona", "coder", "hi").returncode == 0
    assert ask("--base-url", scripted.base_url, "--persona", "coder", "--max-tokens", "33", "hi").returncode == 0
    persona, flagged = scripted.chat_requests
    assert persona["max_tokens"] == 4096 and persona["temperature"] == 0.2  # prompts/coder.md
    assert flagged["max_tokens"] == 33 and flagged["temperature"] == 0.2


def test_an_unknown_persona_fails_before_any_request(scripted: ScriptedServer) -> None:
    result = ask("--base-url", scripted.base_url, "--persona", "nobody", "hi")
    assert result.returncode == 1 and "no persona 'nobody' (have: assistant, coder" in result.stderr
    assert scripted.requests == []


def test_json_carries_the_energy_of_the_turn_on_the_gpus_it_ran_on(scripted: ScriptedServer) -> None:
    """`ask` measures like the app: a dcgm-exporter on 127.0.0.1 stands in for the GPUs (so the test is the same
    with or without a local GPU), and `--gpus gpubox:0` names the serving GPU."""
    scripted.queue(text_reply(" ".join(["watt"] * 15), chunk_delay=0.1))
    with MetricsServer({"/metrics": fixture("prom-dcgm.txt")}) as dcgm:
        result = ask("--base-url", scripted.base_url, "--json", "--metrics-urls", f"{dcgm.root}/metrics",
                     "--gpus", "gpubox:0", "spend some energy")  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout.splitlines()[-1])["stats"]
    assert (stats["gpus"], stats["gpus_chosen_by"]) == ("GPU 0 @gpubox", "gpus setting")
    assert stats["peak_vram_bytes"] == 74213 * 2**20  # GPU 0 alone; GPU 1 of the same exporter is left out
    assert 0.5 * 512 * stats["duration_s"] < stats["energy_j"] <= 512.35 * stats["duration_s"]  # GPU 0 draws 512 W
    assert stats["joules_per_token"] == stats["energy_j"] / stats["tokens"]
