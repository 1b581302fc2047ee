"""Time to first token through vt-tui's core vs raw httpx, against the same loopback server, same run.

Goal: ≤ 2 ms added to TTFT; every turn after the first reuses the connection.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from _common import median, table

from tests.support.scripted_server import ScriptedServer
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
        client = httpx.AsyncClient()
        session = ChatSession(Endpoint(server.base_url), model="scripted-model")
        url = server.base_url + "/chat/completions"
        raw, core = [], []
        await raw_ttft(client, url)  # warm both (imports, first connection)
        await core_ttft(session)
        before = server.connections
        for _ in range(RUNS):
            raw.append(await raw_ttft(client, url))
            core.append(await core_ttft(session))
        new_connections = server.connections - before
        await client.aclose()
        await session.endpoint.aclose()
    r, c = median(raw) * 1000, median(core) * 1000
    table(
        f"TTFT against a zero-delay loopback server (median of {RUNS}, interleaved)",
        ("client", "TTFT ms", "added ms", "× baseline"),
        [("baseline: raw httpx, one client", r, 0.0, 1.0), ("vt-tui core: ChatSession.run_turn", c, c - r, c / r)],
    )
    print(f"\nnew TCP connections during {2 * RUNS} timed turns: {new_connections} (0 = every turn reused one)")


if __name__ == "__main__":
    asyncio.run(main())
