"""Time to first token through vt-tui's core vs raw httpx, against the same loopback server, same run.

Goal: ≤ 2 ms added to TTFT; every turn after the first reuses the connection. Three sessions: the server says no
context window (nothing to fit); a known window far from the limit (counted from characters, nothing asked); a
window the request comes near (one tokenizer request before sending, as on vLLM, SGLang and llama.cpp).
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from _common import median, table

from tests.support.engine_windows import play
from tests.support.scripted_server import ScriptedServer
from vt_tui.core.context import ContextLimit
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import TextDelta
from vt_tui.core.session import ChatSession

RUNS = 60
BODY = {"model": "scripted-model", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 64}


async def raw_ttft(client: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    ttft = None
    async with client.stream("POST", url, json=BODY) as response:
        async for line in response.aiter_lines():  # read to the end, as the core does, to keep the connection
            data = line[5:].strip() if line.startswith("data:") else "[DONE]"
            if ttft is None and data != "[DONE]" and json.loads(data)["choices"][0]["delta"].get("content"):
                ttft = time.perf_counter() - started
    return ttft


async def core_ttft(session: ChatSession) -> float:
    started = time.perf_counter()
    ttft = None
    async for event in session.run_turn("hi"):
        if ttft is None and isinstance(event, TextDelta):
            ttft = time.perf_counter() - started
    session.turns.clear()  # same request every time
    return ttft


async def main() -> None:
    with ScriptedServer() as server:
        play(server, "vllm", 1030)  # its tokenizer route; the window itself is set per session below
        server.validate = None
        client = httpx.AsyncClient()
        plain = ChatSession(Endpoint(server.base_url), model="scripted-model")
        plain.endpoint.context_limits["scripted-model"] = None  # says no window
        far = ChatSession(Endpoint(server.base_url), model="scripted-model")
        far.endpoint.context_window = ContextLimit(32768, "bench")
        near = ChatSession(Endpoint(server.base_url), model="scripted-model")  # 1,024 max_tokens + "hi" ~ 1,030
        near.endpoint.context_window = ContextLimit(1030, "bench")
        url = server.base_url + "/chat/completions"
        sessions = {"no window": plain, "window far from the limit": far, "near the limit (tokenizer)": near}
        raw: list[float] = []
        core: dict[str, list[float]] = {name: [] for name in sessions}
        await raw_ttft(client, url)  # warm every path (imports, first connections)
        for session in sessions.values():
            await core_ttft(session)
        tokenized = sum(1 for r in server.requests if "tokenize" in r["path"])
        before = server.connections
        for _ in range(RUNS):
            raw.append(await raw_ttft(client, url))
            for name, session in sessions.items():
                core[name].append(await core_ttft(session))
        new_connections = server.connections - before
        tokenized = sum(1 for r in server.requests if "tokenize" in r["path"]) - tokenized
        capped = server.chat_requests[-1]["max_tokens"]
        await client.aclose()
        for session in sessions.values():
            await session.endpoint.aclose()
    r = median(raw) * 1000
    rows = [("baseline: raw httpx, one client", r, 0.0, 1.0)]
    for name, times in core.items():
        c = median(times) * 1000
        rows.append((f"vt-tui core: ChatSession.run_turn, {name}", c, c - r, c / r))
    table(
        f"TTFT against a zero-delay loopback server (median of {RUNS}, interleaved)",
        ("client", "TTFT ms", "added ms", "× baseline"),
        rows,
    )
    print(f"\nnew TCP connections during {4 * RUNS} timed turns: {new_connections} (0 = every turn reused one)")
    print(f"tokenizer requests: {tokenized} in {RUNS} turns near the limit (max_tokens sent: {capped}), 0 elsewhere")


if __name__ == "__main__":
    asyncio.run(main())
