"""Agent overhead per tool round trip, and per streamed chunk: ``python bench/agent_overhead.py [turns]``.

One turn = the model asks for ``calculator`` (streamed tool call), the tool runs, the model answers (streamed
text): two requests to the scripted loopback server, which answers at once. The baseline does exactly that with
raw ``AsyncOpenAI`` calls on the same client (parse the streamed call, run the same tool, send its result); the
difference is what vt-tui's agent path adds (LangChain's graph, middleware, events, the session's pipe). Runs
are interleaved so load on a shared machine hits every variant alike; figures are medians and 90th percentiles.
The server runs in this process (threads), so its CPU time lands on both sides equally.

Per streamed chunk: a 4,000-chunk answer (4 characters a chunk), sent as fast as the server can, from a server in
its own process; the figure is this process's CPU time per chunk for the whole turn, plain chat (``--tools off``,
the baseline) against the agent path answering without a tool call (native and text protocol). Interleaved,
median of the rounds. This is the cost that decides whether a fast engine's answer keeps up.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.scripted_server import Reply, ScriptedServer, text_reply, tool_call_reply
from vt_tui.core.agent import AgentConfig, ToolRegistry
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import ToolCallFinished, TurnFinished
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession

GOAL_MS = 20.0
CHUNKS = 4_000
ROUNDS = 7
ARGS = json.dumps({"expression": "17 * 23 + sqrt(2)"})
ANSWER = "The result is 392.41421356237."


def queue_turn(server: ScriptedServer, text_protocol: bool = False) -> None:
    if text_protocol:
        block = f'Let me compute.\n```tool\n{{"name": "calculator", "arguments": {ARGS}}}\n```\n'
        server.queue(text_reply(block), text_reply(ANSWER))
    else:
        server.queue(tool_call_reply([("call_1", "calculator", ARGS)], split=4), text_reply(ANSWER))


async def raw_turn(endpoint: Endpoint, tool) -> float:
    """The same two requests with the bare SDK: stream, collect the call, run the tool, stream the answer."""
    client = endpoint.client
    started = time.perf_counter()
    messages = [{"role": "user", "content": "What is 17*23+sqrt(2)?"}]
    spec = [
        {
            "type": "function",
            "function": {"name": "calculator", "parameters": tool.tool_call_schema.model_json_schema()},
        }
    ]
    stream = await client.chat.completions.create(
        model="scripted-model", messages=messages, tools=spec, stream=True, max_tokens=1024
    )
    call_id, name, args = "", "", ""
    async for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
            call_id = delta.id or call_id
            name = (delta.function.name if delta.function else None) or name
            args += (delta.function.arguments if delta.function else None) or ""
    result = await tool.ainvoke(json.loads(args))
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": str(result)},
    ]
    stream = await client.chat.completions.create(
        model="scripted-model", messages=messages, stream=True, max_tokens=1024
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == ANSWER, text
    return time.perf_counter() - started


async def agent_turn(session: ChatSession) -> tuple[float, float]:
    """(turn seconds, tool seconds) through ChatSession.run_turn, as the TUI and `ask` run it."""
    started = time.perf_counter()
    tool_s = 0.0
    async for event in session.run_turn("What is 17*23+sqrt(2)?"):
        if isinstance(event, ToolCallFinished):
            assert event.status == "ok", event
            tool_s += event.duration_s
        elif isinstance(event, TurnFinished):
            assert event.text.endswith(ANSWER), event.text
    return time.perf_counter() - started, tool_s


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.9 * (len(ordered) - 1))] * 1000


def serve_long(conn, replies: int) -> None:
    """The per-chunk bench's server, in its own process (its CPU time is not the client's)."""
    pieces = [f"w{i % 100:02d} " for i in range(CHUNKS)]
    server = ScriptedServer().start()
    server.queue(*(Reply(chunks=[{"content": p} for p in pieces]) for _ in range(replies)))
    conn.send(server.base_url)
    conn.recv()


async def per_chunk(base_url: str) -> dict[str, float]:
    """CPU µs per streamed chunk of a whole answer: plain chat, then the agent path (native, text protocol)."""
    registry = await ToolRegistry(builtins=False, plugins=None, tools=[]).aload()
    from vt_tui.tools.calculator import calculator

    registry.tools.append(calculator)
    endpoint = Endpoint(base_url, engine="openai")
    sessions = {
        mode: ChatSession(endpoint, model="scripted-model", agent=AgentConfig(registry=registry, mode=mode))
        for mode in ("off", "native", "text")
    }
    samples: dict[str, list[float]] = {mode: [] for mode in sessions}
    for n in range(ROUNDS + 1):  # the first round warms up
        for mode, session in sessions.items():
            cpu = time.process_time()
            event = [e async for e in session.run_turn("go")][-1]
            cpu = time.process_time() - cpu
            assert isinstance(event, TurnFinished) and len(event.text) >= 4 * CHUNKS - 1, event
            session.turns.clear()
            if n:
                samples[mode].append(cpu / CHUNKS * 1e6)
    await endpoint.aclose()
    return {mode: statistics.median(values) for mode, values in samples.items()}


def per_chunk_table() -> None:
    parent, child = mp.get_context("fork").Pipe()
    server = mp.get_context("fork").Process(target=serve_long, args=(child, 3 * (ROUNDS + 1)), daemon=True)
    server.start()
    try:
        figures = asyncio.run(per_chunk(parent.recv()))
    finally:
        server.kill()
    print(f"\nper streamed chunk — a {CHUNKS:,}-chunk answer at full speed, server in its own process, ", end="")
    print(f"median of {ROUNDS} interleaved rounds\n")
    print(f"{'variant':<44} {'CPU µs/chunk':>13} {'added':>9}")
    plain = figures["off"]
    print(f"{'plain chat, --tools off (baseline)':<44} {plain:>13.1f} {'—':>9}")
    for mode, label in (("native", "vt-tui agent, native tool calls"), ("text", "vt-tui agent, text protocol")):
        print(f"{label:<44} {figures[mode]:>13.1f} {figures[mode] - plain:>+9.1f}")


async def main(turns: int) -> int:
    with ScriptedServer() as server:
        registry = await ToolRegistry(builtins=False, plugins=None, tools=[]).aload()
        from vt_tui.tools.calculator import calculator

        registry.tools.append(calculator)
        endpoint = Endpoint(server.base_url, engine="openai")
        params = GenerationParams(max_tokens=1024)
        native = ChatSession(
            endpoint, model="scripted-model", params=params, agent=AgentConfig(registry=registry, mode="native")
        )
        text = ChatSession(
            endpoint, model="scripted-model", params=params, agent=AgentConfig(registry=registry, mode="text")
        )
        samples: dict[str, list[float]] = {"raw": [], "native": [], "text": []}
        tool_times: list[float] = []
        for n in range(turns + 5):  # the first five warm up (imports, first connection, graph build)
            server.queue(*[])
            queue_turn(server)
            raw = await raw_turn(endpoint, calculator)
            queue_turn(server)
            agent, tool_s = await agent_turn(native)
            queue_turn(server, text_protocol=True)
            text_s, _ = await agent_turn(text)
            native.turns.clear()  # keep every turn the same size
            text.turns.clear()
            if n >= 5:
                samples["raw"].append(raw)
                samples["native"].append(agent)
                samples["text"].append(text_s)
                tool_times.append(tool_s)
        await endpoint.aclose()

    raw_med, raw_p90 = stats(samples["raw"])
    tool_ms = statistics.median(tool_times) * 1000
    print(f"agent overhead per tool round trip — {turns} turns each, interleaved, scripted server on 127.0.0.1")
    print(f"(one round trip = streamed tool call → calculator ({tool_ms:.2f} ms) → streamed answer; 2 requests)\n")
    print(f"{'variant':<44} {'median':>9} {'p90':>9} {'overhead':>10}")
    print(f"{'raw AsyncOpenAI, same 2 requests (baseline)':<44} {raw_med:>7.1f}ms {raw_p90:>7.1f}ms {'—':>10}")
    worst = 0.0
    for key, label in (("native", "vt-tui agent, native tool calls"), ("text", "vt-tui agent, text protocol")):
        med, p90 = stats(samples[key])
        overhead = med - raw_med
        worst = max(worst, overhead) if key == "native" else worst
        print(f"{label:<44} {med:>7.1f}ms {p90:>7.1f}ms {overhead:>+8.1f}ms")
    verdict = "meets" if worst <= GOAL_MS else "MISSES"
    print(f"\nnative overhead {worst:.1f} ms per round trip: {verdict} the goal of ≤ {GOAL_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    per_chunk_table()  # first: it forks its server before this process has threads
    raise SystemExit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)))
