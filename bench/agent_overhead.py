"""Agent overhead per tool round trip, beyond model and tool time: ``python bench/agent_overhead.py [turns]``.

One turn = the model asks for ``calculator`` (streamed tool call), the tool runs, the model answers (streamed
text): two requests to the scripted loopback server, which answers at once. The baseline does exactly that with
raw ``AsyncOpenAI`` calls on the same client (parse the streamed call, run the same tool, send its result); the
difference is what vt-tui's agent path adds (LangChain's graph, middleware, events, the session's pipe). Runs
are interleaved so load on a shared machine hits every variant alike; figures are medians and 90th percentiles.
The server runs in this process (threads), so its CPU time lands on both sides equally.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.scripted_server import ScriptedServer, text_reply, tool_call_reply
from vt_tui.core.agent import AgentConfig, ToolRegistry
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import ToolCallFinished, TurnFinished
from vt_tui.core.session import ChatSession, GenerationParams

GOAL_MS = 20.0
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
    raise SystemExit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)))
