"""The context window's pure rules: reading each engine's limit, counting, fitting, overflow words, the GGUF header,
the renamed setting, and the status bar's figure."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from vt_tui.core.context import listing_context, props_context, ps_context, show_context, slot_context
from vt_tui.core.errors import ErrorKind, Overflow, context_overflow, from_status, overflow_in
from vt_tui.core.store import Turn, TurnStatus
from vt_tui.core.window import ESTIMATE_MARGIN, MIN_REPLY_TOKENS, Count, Window
from vt_tui.engines.embedded import DEFAULT_N_CTX_CAP, EmbeddedServer, default_gguf
from vt_tui.engines.gguf import trained_context
from vt_tui.settings import SettingsError, load
from vt_tui.ui.widgets.status_bar import Status, context_figure, context_style, window_size

# Each engine's own words for a prompt over its window, as its source and its users' issues show them.
OVERFLOWS = {
    "vLLM": (
        "This model's maximum context length is 16384 tokens. However, you requested 122946 tokens (112946 in the "
        "messages, 10000 in the completion). Please reduce the length of the messages or completion.",
        None,
        (112946, 16384),
    ),
    "vLLM (newer)": (
        "This model's maximum context length is 1536 tokens. However, your request has 4176 input tokens. Please "
        "reduce the length of the input messages.",
        None,
        (4176, 1536),
    ),
    "SGLang": (
        "The input (61709 tokens) is longer than the model's context length (40960 tokens).",
        None,
        (61709, 40960),
    ),
    "llama-server": (
        "the request exceeds the available context size, try increasing it",
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 1407,
                "n_ctx": 256,
            }
        },
        (1407, 256),
    ),
    "llama-cpp-python (its log)": ("ValueError: Requested tokens (831) exceed context window of 512", None, (831, 512)),
    "OpenAI": (
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 411525 tokens.",
        None,
        (411525, 128000),
    ),
}


@pytest.mark.parametrize("engine", OVERFLOWS)
def test_every_engines_overflow_is_read_the_same_way(engine: str) -> None:
    words, body, (size, limit) = OVERFLOWS[engine]
    overflow = overflow_in(words, body)
    assert overflow == Overflow(size, limit)
    error = context_overflow(overflow)
    assert error.kind is ErrorKind.CONTEXT_OVERFLOW
    assert f"{size:,} tokens for a {limit:,}-token window ({size - limit:,} over)" in error.message
    assert "retry" not in error.hint.lower().replace("retrying the same cannot fit", "")


def test_other_refusals_are_not_overflows() -> None:
    assert overflow_in("Only supports u/a/u/a/u...") is None
    assert overflow_in("The model `x` does not exist.") is None
    error = from_status(400, {"detail": "Invalid role"}, "", "u", None)
    assert error.kind is ErrorKind.BAD_REQUEST and error.overflow is None


def test_a_status_error_with_overflow_words_is_a_context_overflow() -> None:
    words, body, _ = OVERFLOWS["llama-server"]
    error = from_status(400, body, words, "http://127.0.0.1:8080/v1", "m")
    assert (error.kind, error.status, error.overflow) == (ErrorKind.CONTEXT_OVERFLOW, 400, Overflow(1407, 256))
    assert error.to_dict()["overflow"] == {"size": 1407, "limit": 256, "reply": 0, "margin": 0}


def test_a_reply_that_did_not_fit_after_a_prompt_that_did_is_said_so() -> None:
    words = (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is 4096 "
        "tokens and your request has 2778 input tokens (8000 > 4096 - 2778)."
    )
    error = context_overflow(overflow_in(words))
    assert "did not fit the model's 4,096-token context window after a 2,778-token prompt" in error.message
    assert "capped" in error.hint


def test_an_estimate_is_said_as_one() -> None:
    error = context_overflow(Overflow(5210, 4096, reply=64, margin=900))
    assert error.message.endswith("about 5,210 tokens for a 4,096-token window (about 1,178 over, with room for "
                                  "a 64-token reply)")  # fmt: skip


def test_each_engines_limit_reader() -> None:
    listing = [{"id": "a", "max_model_len": 4096}, {"id": "b", "max_model_len": 32768}, {"id": "c"}]
    assert (listing_context(listing, "a"), listing_context(listing, "zzz"), listing_context([{"id": "x"}])) == (
        4096,
        32768,
        None,
    )
    assert props_context({"default_generation_settings": {"n_ctx": 8192}}) == 8192
    assert props_context({"n_ctx": 4096}) == 4096 and props_context({"n_ctx": 0}) is None
    assert slot_context({"id": 0, "n_ctx": 2048}) == 2048 and slot_context({"n_ctx": True}) is None
    assert ps_context({"name": "qwen3:8b", "context_length": 8192}) == 8192
    show = {"parameters": "stop <|im_end|>\nnum_ctx 16384", "model_info": {"qwen3.context_length": 40960}}
    assert show_context(show) == (16384, 40960)
    assert show_context({"parameters": "temperature 0.7"}) == (None, None)


def turn(turn_id: int, user: str, reply: str, in_context: bool = True) -> Turn:
    return Turn(id=turn_id, user_text=user, assistant_text=reply, status=TurnStatus.OK, in_context=in_context)


def test_a_count_is_the_servers_figure_plus_the_new_message_estimated() -> None:
    window = Window.__new__(Window)
    Window.__init__(window, endpoint=None)  # type: ignore[arg-type]  # counting never asks the endpoint
    turns = [turn(1, "hello", "hi there")]
    request = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi there"}]
    new = {"role": "user", "content": "x" * 320}
    whole = window.count(turns, [*request, new])
    assert whole.estimated == whole.tokens  # nothing from the server yet
    window.turn_done(turns, [request[0]], None, {"prompt_tokens": 12, "completion_tokens": 3})
    anchored = window.count(turns, [*request, new])
    assert anchored.tokens - anchored.estimated == 15  # the server's 12 + 3, exactly
    assert anchored.estimated == window.estimate([new]) and anchored.margin == round(anchored.estimated * 0.35 + 0.5)
    turns[0].in_context = False
    assert window.count(turns, [new]).estimated == window.estimate([new])  # history changed: estimated again


def test_count_margin_covers_only_what_is_estimated() -> None:
    count = Count(1000, 200)
    assert (count.margin, count.high) == (70, 1070) and ESTIMATE_MARGIN == 0.35
    assert Count(500).describe() == "500 tokens (counted)"


def test_relief_drops_the_oldest_turns_first_and_says_when_dropping_is_not_enough() -> None:
    window = Window(endpoint=None)  # type: ignore[arg-type]
    turns = [turn(n, "q" * 640, "a" * 640) for n in (1, 2, 3, 4)]  # ~416 tokens each
    relief = window.relief(turns, Overflow(size=2000, limit=1700, reply=MIN_REPLY_TOKENS))
    assert relief.drop == (1, 2)  # 364 over, 492 with the estimate's margin: one turn is not enough, two are
    assert relief.compact == (1, 2, 3)  # the latest exchange is kept as it is
    alone = window.relief(turns, Overflow(size=9000, limit=1700, reply=MIN_REPLY_TOKENS))
    assert (alone.drop, alone.compact) == ((), ())


def test_the_gguf_header_says_the_trained_window(tmp_path: Path) -> None:
    if default_gguf().is_file():
        assert trained_context(default_gguf()) == 8192  # SmolLM2-135M-Instruct
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 3)

    def pair(key: str, kind: int, value: bytes) -> bytes:
        return struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", kind) + value

    body = pair("general.architecture", 8, struct.pack("<Q", 5) + b"qwen3")
    body += pair(
        "tokenizer.tokens", 9, struct.pack("<IQ", 8, 2) + struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 1) + b"b"
    )
    body += pair("qwen3.context_length", 4, struct.pack("<I", 40960))
    (tmp_path / "m.gguf").write_bytes(header + body)
    assert trained_context(tmp_path / "m.gguf") == 40960
    (tmp_path / "bad.gguf").write_bytes(b"GGUF but not really")
    assert trained_context(tmp_path / "bad.gguf") is None


def test_the_embedded_window_is_the_trained_one_capped_unless_given(tmp_path: Path) -> None:
    big = tmp_path / "big.gguf"
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    arch = struct.pack("<Q", 20) + b"general.architecture" + struct.pack("<I", 8) + struct.pack("<Q", 5) + b"llama"
    ctx = struct.pack("<Q", 20) + b"llama.context_length" + struct.pack("<I", 4) + struct.pack("<I", 131072)
    big.write_bytes(header + arch + ctx)
    capped = EmbeddedServer(big, log_path=tmp_path / "log")
    assert capped.n_ctx == DEFAULT_N_CTX_CAP and "trained for 131,072" in capped.window.source
    given = EmbeddedServer(big, n_ctx=512, log_path=tmp_path / "log")
    assert (given.n_ctx, given.window.source) == (512, "the embedded server's n_ctx (your setting)")
    assert "--n_ctx" in given.command() and "512" in given.command()


def test_ctx_size_is_read_as_n_ctx_from_every_layer(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("ctx_size = 2048\n")
    assert load(environ={}, config_path=config).n_ctx == 2048
    assert load(environ={"VT_TUI_CTX_SIZE": "1024"}, config_path=tmp_path / "none.toml").n_ctx == 1024
    config.write_text("ctx_size = 2048\nn_ctx = 4096\n")
    with pytest.raises(SettingsError, match="both n_ctx and its old name ctx_size are set; keep n_ctx"):
        load(environ={}, config_path=config)
    from vt_tui.cli import build_parser, settings_from

    args = build_parser().parse_args(["ask", "--ctx-size", "768", "hi"])
    assert settings_from(args, read_file=False).n_ctx == 768


def test_context_figure_and_its_colour() -> None:
    assert window_size(4096) == "4k" and window_size(131072) == "128k" and window_size(40000) == "40.0k"
    assert context_figure(Status(context_tokens=3100, context_limit=4096, context_exact=True)) == "ctx 3.1k / 4k"
    assert context_figure(Status(context_tokens=226, context_limit=8192)) == "ctx ~226 / 8k"
    assert [context_style(t, 4096) for t in (1000, 3000, 3900)] == ["green", "yellow", "bold red"]


def test_the_text_to_summarise_trims_tool_results_first_then_the_longest_messages() -> None:
    window = Window(endpoint=None)  # type: ignore[arg-type]
    turns = [turn(1, "Fetch the page.", "It says hello."), turn(2, "And then? " + "more " * 200, "Fine.")]
    calls = {1: [{"name": "web_fetch", "result": "<html>" + "x" * 5000}]}
    request, max_tokens = window.summary_request(turns, calls, budget=1000)
    text = request[0]["content"]
    assert "Tool web_fetch: <html>" in text and "x" * 400 not in text and "[…]" in text  # the tool result, cut
    assert "more " * 200 in text and "User: Fetch the page." in text  # the messages, whole
    assert max_tokens == 250 and window.estimate(request) + max_tokens <= 1000
    tight, _ = window.summary_request(turns, calls, budget=400)
    assert "more " * 200 not in tight[0]["content"] and " […] " in tight[0]["content"]  # then the longest, cut
    assert "User: Fetch the page." in tight[0]["content"]
