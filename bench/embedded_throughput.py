"""Generation speed through the embedded server vs llama-cpp-python in-process: same model, thread, prompt.

Goal: ≥ 0.95× of in-process tok/s. Both greedy, same max_tokens; tokens counted from the streamed chunks.
"""

from __future__ import annotations

import asyncio
import time

from _common import median, table

from vt_tui.core.events import TurnFinished
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession
from vt_tui.engines.connect import connect
from vt_tui.engines.embedded import default_gguf
from vt_tui.settings import Settings

PROMPT = "Write a long story about a robot who learns to paint."
MAX_TOKENS = 200
RUNS = 3


def in_process() -> list[float]:
    import contextlib
    import os

    from llama_cpp import Llama

    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        llm = Llama(str(default_gguf()), n_threads=1, n_threads_batch=1, n_ctx=4096, verbose=False)
    rates = []
    for _ in range(RUNS):
        messages = [{"role": "user", "content": PROMPT}]
        first, n = None, 0
        for chunk in llm.create_chat_completion(messages, max_tokens=MAX_TOKENS, temperature=0, stream=True):
            if chunk["choices"][0]["delta"].get("content"):
                n += 1
                first = first or time.perf_counter()
        rates.append((n - 1) / (time.perf_counter() - first))
    return rates


async def raw_httpx(base_url: str) -> float:
    """The same server read by a bare httpx client: what the server itself delivers."""
    import json

    import httpx

    body = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS,
            "temperature": 0, "stream": True}  # fmt: skip
    first, n = None, 0
    async with httpx.AsyncClient(timeout=300) as client, client.stream("POST", base_url + "/chat/completions",
                                                                        json=body) as response:  # fmt: skip
        async for line in response.aiter_lines():
            data = line[5:].strip() if line.startswith("data:") else "[DONE]"
            if data != "[DONE]" and json.loads(data)["choices"][0]["delta"].get("content"):
                n += 1
                first = first or time.perf_counter()
    return (n - 1) / (time.perf_counter() - first)


async def through_vt_tui() -> tuple[list[float], list[float]]:
    connection = await connect(Settings(threads=1), None)
    rates, raw = [], []
    try:
        for _ in range(RUNS):
            raw.append(await raw_httpx(connection.endpoint.base_url))
            session = ChatSession(connection.endpoint, params=GenerationParams(temperature=0, max_tokens=MAX_TOKENS))
            async for event in session.run_turn(PROMPT):
                if isinstance(event, TurnFinished):
                    rates.append(event.stats.tok_per_s)
    finally:
        await connection.aclose()
    return rates, raw


def main() -> None:
    served, raw = asyncio.run(through_vt_tui())
    local = in_process()
    base, ours, bare = median(local), median(served), median(raw)
    table(
        f"SmolLM2-135M-Instruct Q4_1, 1 thread, greedy, {MAX_TOKENS} tokens (median of {RUNS})",
        ("path", "tok/s", "× baseline"),
        [
            ("baseline: llama-cpp-python in-process", base, 1.0),
            ("raw httpx → embedded server (the server's own speed)", bare, bare / base),
            ("vt-tui → embedded server", ours, ours / base),
        ],
    )


if __name__ == "__main__":
    main()
