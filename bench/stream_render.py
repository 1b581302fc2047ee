"""A long Markdown answer streamed fast: does the chat log keep up?

A 20,000-token answer (prose, code, tables, lists) at 2,000 tok/s from the scripted server in its own process.
Figures: lag from the server's last byte to the last token drawn in the chat log (goal ≤ 50 ms) and to the
final full render; the app's CPU seconds during the stream; time per 1k tokens drawn at the start vs the end
(must stay flat). Baseline, same run: raw httpx reading the same stream without rendering. Columns: plain chat
(``--tools off``) and tools on (the agent path, text protocol and native tool calls).

Second table, a reasoning model: a 10,000-token thought (a leading ``<think>`` block, split off as it streams)
before a 2,000-token answer, at the same rate, against a 12,000-token answer with no thinking in the same run:
the lags, CPU, and the cost of a thinking frame early and late in the thought (it must stay flat: only the tail
that fits is drawn).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time

import httpx
from _common import table

from tests.support.scripted_server import Reply, ScriptedServer
from vt_tui.settings import Settings
from vt_tui.ui.app import VtApp
from vt_tui.ui.widgets.composer import Composer

TOKENS = 20_000
RATE = 2_000.0
BLOCKS = [
    "The quick brown fox jumps over the lazy dog while the **engine** streams tokens at speed. ",
    "\n\n```python\ndef tokens(stream):\n    for chunk in stream:\n        yield chunk.text\n```\n\n",
    "\n\n| engine | tok/s | VRAM |\n|---|---|---|\n| vLLM | 2000 | 38 GiB |\n| llama.cpp | 120 | 6 GiB |\n\n",
    "- first point with `code`\n- second point with *emphasis*\n- third point 🚀 and 中文\n\n",
]


def answer_pieces(n: int) -> list[str]:
    """``n`` small pieces (~4 characters each, like real tokens) of a Markdown answer."""
    text, pieces = "", []
    while len(pieces) < n:
        text = "".join(BLOCKS[i % len(BLOCKS)] for i in range(len(pieces) // 20 + 8))
        pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    return pieces[:n]


def serve(conn, streams: list[list[str]]) -> None:
    server = ScriptedServer().start()
    for pieces in streams:
        server.queue(Reply(chunks=[{"content": p} for p in pieces], rate=RATE))
    conn.send(server.base_url)
    while True:
        conn.recv()
        conn.send(server.last_byte_at)


THOUGHT_TOKENS, ANSWER_AFTER_THOUGHT = 10_000, 2_000
THOUGHT = "Let me check the next case: if n is even it splits, so I try the odd divisors up to its root. "


def thinking_pieces() -> list[str]:
    """A 10,000-token thought as a leading think block, then a 2,000-token Markdown answer (~4 chars a token)."""
    thought = THOUGHT * (THOUGHT_TOKENS * 4 // len(THOUGHT) + 1)
    pieces = [thought[i : i + 4] for i in range(0, (THOUGHT_TOKENS - 2) * 4, 4)]
    return ["<think>\n", *pieces, "\n</think>\n\n", *answer_pieces(ANSWER_AFTER_THOUGHT)]


async def raw_baseline(base_url: str) -> float:
    async with httpx.AsyncClient(timeout=60) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "go"}], "stream": True}
        async with client.stream("POST", base_url + "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:") and line[5:].strip() != "[DONE]":
                    json.loads(line[5:])
    return time.time()


async def through_app(
    base_url: str, drawn: list[tuple[float, int]], tools: str = "off", thought: list[tuple[int, float]] | None = None
) -> tuple[float, float, float]:
    """``drawn``: (when, answer characters) per frame of the answer; ``thought``: (thinking characters, seconds the
    frame took) per frame of the thinking."""
    from vt_tui.ui.widgets.chat_log import MarkdownView
    from vt_tui.ui.widgets.thinking import ThinkingBlock

    original = MarkdownView.set_source
    original_live = ThinkingBlock.draw_live

    def timed_set_source(self, source: str) -> None:  # what the chat log has drawn, and when
        original(self, source)
        drawn.append((time.time(), getattr(self.parent, "_tail_start", 0) + len(source)))  # + frozen segments

    def timed_draw_live(self) -> None:
        started = time.perf_counter()
        original_live(self)
        if thought is not None:
            thought.append((len(self.text), time.perf_counter() - started))

    MarkdownView.set_source = timed_set_source
    ThinkingBlock.draw_live = timed_draw_live
    app = VtApp(Settings(base_url=base_url, data_dir=None, tools=tools))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 30)
            app.query_one(Composer).load_text("a long answer please")
            cpu0 = time.process_time()
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            final = time.time()
            cpu = time.process_time() - cpu0
    finally:
        MarkdownView.set_source = original
        ThinkingBlock.draw_live = original_live
    return final, cpu, 0.0


VARIANTS = (  # (column, --tools): the agent path answering without a tool call, both protocols
    ("vt-tui, plain chat", "off"),
    ("vt-tui, tools on (agent, text protocol)", "text"),
    ("vt-tui, tools on (agent, native)", "native"),
)
FIGURES = (
    "lag: server's last byte → last token drawn, ms",
    "lag: server's last byte → final full render, ms",
    "CPU seconds of the client during the stream",
    "seconds per 1k tokens drawn: 2nd k",
    "seconds per 1k tokens drawn: last k",
    "frames drawn",
)


def figures(drawn: list[tuple[float, int]], total_chars: int, last_byte: float, final: float, cpu: float) -> tuple:
    chars_per_k = total_chars / (TOKENS / 1000)

    def at(chars: float) -> float:
        return next(t for t, n in drawn if n >= chars)

    last_drawn = at(total_chars * 0.999)
    return (
        (last_drawn - last_byte) * 1000,
        (final - last_byte) * 1000,
        cpu,
        at(2 * chars_per_k) - at(chars_per_k),
        at(total_chars * 0.999) - at(total_chars - chars_per_k * 1.5),
        len(drawn),
    )


THINKING_FIGURES = (
    "lag: server's last byte → last answer token drawn, ms",
    "lag: server's last byte → final full render, ms",
    "CPU seconds of the client during the stream",
    "thinking frames drawn",
    "ms per thinking frame, 1st k of the thought (mean / max)",
    "ms per thinking frame, last k of the thought (mean / max)",
    "answer frames drawn",
)


def thinking_figures(
    drawn: list[tuple[float, int]], answer_chars: int, thought: list[tuple[int, float]], thought_chars: int
) -> list:
    def frame_ms(low: float, high: float) -> str:
        took = [s * 1000 for n, s in thought if low <= n < high]
        return f"{sum(took) / len(took):.2f} / {max(took):.2f}" if took else "–"

    last_drawn = next(t for t, n in drawn if n >= answer_chars * 0.999)
    per_k = thought_chars / (THOUGHT_TOKENS / 1000)
    return [
        last_drawn,
        len(thought),
        frame_ms(0, per_k) if thought else "–",
        frame_ms(thought_chars - per_k, thought_chars + 1) if thought else "–",
        len([1 for _, n in drawn if n]),
    ]


def thinking_case(base_url: str, parent) -> None:
    """The second table: a thought before its answer, against an answer as long, in the same run."""
    thinking = thinking_pieces()
    plain = answer_pieces(THOUGHT_TOKENS + ANSWER_AFTER_THOUGHT)
    thought_chars = len("".join(thinking[1 : -ANSWER_AFTER_THOUGHT - 1]))
    columns = {}
    for label, pieces, with_thought in (
        (f"{len(plain):,}-token answer, no thinking (baseline)", plain, False),
        (f"{THOUGHT_TOKENS:,}-token thought + {ANSWER_AFTER_THOUGHT:,}-token answer", thinking, True),
    ):
        answer_chars = len("".join(pieces[-ANSWER_AFTER_THOUGHT:] if with_thought else pieces))
        drawn: list[tuple[float, int]] = []
        thought: list[tuple[int, float]] = []
        final, cpu, _ = asyncio.run(through_app(base_url, drawn, "off", thought))
        parent.send("?")
        last_byte = parent.recv()
        last_drawn, *rest = thinking_figures(drawn, answer_chars, thought, thought_chars)
        columns[label] = [(last_drawn - last_byte) * 1000, (final - last_byte) * 1000, cpu, *rest]
        if not with_thought:
            columns[label][3:6] = ["–", "–", "–"]
    table(
        f"Reasoning model: {THOUGHT_TOKENS:,}-token thought before a {ANSWER_AFTER_THOUGHT:,}-token answer at "
        f"{RATE:,.0f} tok/s",
        ("figure", *columns),
        [(name, *(column[i] for column in columns.values())) for i, name in enumerate(THINKING_FIGURES)],
    )


def main() -> None:
    import os
    import sys
    import tempfile

    os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp())
    os.environ.setdefault("XDG_STATE_HOME", tempfile.mkdtemp())
    pieces = answer_pieces(TOKENS)
    total_chars = len("".join(pieces))
    only_thinking = "--thinking" in sys.argv[1:]  # the second table alone
    streams = [] if only_thinking else [pieces] * (1 + len(VARIANTS))
    streams += [answer_pieces(THOUGHT_TOKENS + ANSWER_AFTER_THOUGHT), thinking_pieces()]
    parent, child = mp.get_context("fork").Pipe()
    proc = mp.get_context("fork").Process(target=serve, args=(child, streams), daemon=True)
    proc.start()
    base_url = parent.recv()
    if only_thinking:
        thinking_case(base_url, parent)
        proc.kill()
        return

    cpu0 = time.process_time()
    raw_done = asyncio.run(raw_baseline(base_url))
    raw_cpu = time.process_time() - cpu0
    parent.send("?")
    raw_lag = raw_done - parent.recv()

    columns = {}
    for label, tools in VARIANTS:
        drawn: list[tuple[float, int]] = []
        final, app_cpu, _ = asyncio.run(through_app(base_url, drawn, tools))
        parent.send("?")
        last_byte = parent.recv()
        columns[label] = figures(drawn, total_chars, last_byte, final, app_cpu)
    rows = []
    for i, name in enumerate(FIGURES):
        baseline = (raw_lag * 1000, "–", raw_cpu, "–", "–", "–")[i]
        rows.append((name, baseline, *(column[i] for column in columns.values())))
    table(
        f"{TOKENS:,}-token Markdown answer at {RATE:,.0f} tok/s (server in its own process)",
        ("figure", "raw httpx (baseline)", *columns),
        rows,
    )
    print(f"\nideal: {TOKENS / RATE:.1f} s of streaming; 1k tokens every {1000 / RATE:.2f} s")
    thinking_case(base_url, parent)
    proc.kill()


if __name__ == "__main__":
    main()
