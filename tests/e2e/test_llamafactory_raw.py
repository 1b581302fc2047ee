"""Smoke test of the real LLaMA-Factory API server itself, with the `openai` package directly (no vt_tui code).

The server (llamafactory 0.9.5, Hugging Face backend, CPU, SmolLM2-135M-Instruct) is built by
scripts/llamafactory/setup.sh; these tests skip when it has not been built. Run with `-s` to see the
timings and the table of protocol facts observed, next to what shared/endpoints-facts.md says.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI

from tests.support.llamafactory import E2E_API_KEY

pytestmark = pytest.mark.e2e

API_KEY = E2E_API_KEY
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def base_url(llamafactory_url: str) -> str:
    return llamafactory_url


@pytest.fixture(scope="module")
def client(base_url: str) -> OpenAI:
    # max_retries=0: the SDK would otherwise retry the server's 500s twice and hide them.
    return OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def facts() -> Iterator[list[tuple[str, str, str]]]:
    """(probe, observed, what shared/endpoints-facts.md says); printed as a table after the module."""
    rows: list[tuple[str, str, str]] = []
    yield rows
    if rows:
        width = max(len(r[0]) for r in rows)
        print("\n\nLLaMA-Factory 0.9.5 protocol facts observed (probe | observed | shared notes)")
        for probe, observed, noted in rows:
            print(f"  {probe:<{width}} | {observed} | {noted}")


def raw(base_url: str, path: str, body: dict | None = None, key: str | None = API_KEY) -> tuple[int, str]:
    """One request on a fresh connection (a 500 drops keep-alive); (status, body text)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    url = (
        base_url.removesuffix("/v1") + path
        if path.startswith("/health") or path.startswith("/metrics")
        else (base_url + path)
    )
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            try:
                return resp.status, resp.read().decode(errors="replace")
            except http.client.IncompleteRead as e:  # the server dropped the connection mid-body
                return resp.status, e.partial.decode(errors="replace") + " <connection dropped mid-body>"
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def sse_events(text: str) -> list[dict | str]:
    out: list[dict | str] = []
    for line in text.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def chat(**extra) -> dict:
    return {"model": "any", "messages": [{"role": "user", "content": QUESTION}], **extra}


def test_models_list(client: OpenAI, facts) -> None:
    models = client.models.list().data
    assert models, "no models listed"
    facts.append(("GET /v1/models ids", repr([m.id for m in models]), "(not noted; set by API_MODEL_NAME)"))


def test_chat_non_stream_answers_paris(client: OpenAI, facts) -> None:
    t0 = time.monotonic()
    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=32,
    )
    latency = time.monotonic() - t0
    text = resp.choices[0].message.content or ""
    print(f"\n[llamafactory] non-stream answer in {latency:.2f} s: {text!r} usage={resp.usage}")
    assert "paris" in text.lower()
    assert resp.choices[0].finish_reason == "stop"
    facts.append(("non-stream answer latency", f"{latency:.2f} s, {text!r}", "0.83 s"))
    facts.append(("non-stream model field", repr(resp.model), "(not noted)"))
    facts.append(("non-stream usage", repr(resp.usage and resp.usage.model_dump()), "(not noted)"))


def test_chat_stream_yields_deltas(client: OpenAI, facts) -> None:
    t0 = time.monotonic()
    first_token_s = None
    chunks = []
    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=32,
        stream=True,
    )
    for chunk in stream:
        chunks.append(chunk)
        if first_token_s is None and chunk.choices and chunk.choices[0].delta.content:
            first_token_s = time.monotonic() - t0
    total_s = time.monotonic() - t0
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    text = "".join(contents)
    print(
        f"\n[llamafactory] stream: {len(chunks)} chunks, {len(contents)} with content, first token "
        f"{first_token_s:.2f} s, total {total_s:.2f} s: {text!r}"
    )
    assert len(contents) >= 2, "expected several content deltas"
    assert "paris" in text.lower()
    first, last = chunks[0].choices[0], chunks[-1].choices[0]
    facts.append(
        ("stream first delta", repr(first.delta.model_dump(exclude_none=True)), "{'role':'assistant','content':''}")
    )
    facts.append(
        (
            "stream last chunk",
            f"delta={last.delta.model_dump(exclude_none=True)} finish_reason={last.finish_reason!r}",
            "delta {} with finish_reason 'stop'",
        )
    )
    facts.append(("stream usage", repr([c.usage for c in chunks if c.usage]), "no usage"))


def test_wrong_api_key_is_401(base_url: str, facts) -> None:
    bad = OpenAI(base_url=base_url, api_key="wrong-key", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.models.list()
    assert err.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    facts.append(("wrong key -> /v1/models", f"{err.value.status_code} {err.value.body!r}", '401 "Invalid API key."'))
    status, body = raw(base_url, "/models", key=None)
    facts.append(("no Authorization header", f"{status} {body}", "401 (Bearer required)"))
    assert status == 401


DROPPED = " <connection dropped mid-body>"  # what raw() appends when the server closed a body half-way
CALC = {"type": "function", "function": {"name": "calc", "description": "math", "parameters": {
    "type": "object", "properties": {"e": {"type": "string"}}}}}  # fmt: skip


def user(text: str = "hi") -> dict:
    return {"role": "user", "content": text}


def test_protocol_probes(base_url: str, facts) -> None:
    """What the server does at the edges the client relies on (core/profiles.py's llama-factory profile, message
    shaping, the scripted server's imitation of its refusals), each asserted and recorded."""
    tool_history = [
        user("2+2?"),
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": '{"e": "2+2"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "4"},
    ]  # fmt: skip
    probes: list[tuple[str, str, dict | None, str, int, str]] = [
        # (probe, path, body, what shared notes say, status expected, text the body starts with)
        ("GET /health", "/health", None, "no /health", 404, '{"detail":"Not Found"}'),
        ("GET /metrics", "/metrics", None, "no /metrics", 404, '{"detail":"Not Found"}'),
        ("empty messages", "/chat/completions", {"model": "x", "messages": [], "max_tokens": 4}, "400", 400,
         '{"detail":"Invalid length"}'),
        ("system after user", "/chat/completions",
         {"model": "x", "max_tokens": 4, "messages": [user(), {"role": "system", "content": "s"}]},
         '400 "Only supports u/a/u/a/u..."', 400, '{"detail":"Only supports u/a/u/a/u..."}'),
        ("system mid-conversation", "/chat/completions",
         {"model": "x", "max_tokens": 4, "messages": [user(), {"role": "assistant", "content": "a"},
                                                      {"role": "system", "content": "s"}]},
         '400 "Invalid role"', 400, '{"detail":"Invalid role"}'),
        ("role developer", "/chat/completions",
         {"model": "x", "max_tokens": 4, "messages": [{"role": "developer", "content": "s"}]}, "422", 422,
         '{"detail":[{"type":"enum"'),
        ("presence_penalty: 0", "/chat/completions", chat(max_tokens=4, presence_penalty=0), "500, plain text", 500,
         "Internal Server Error"),
        ("user content null", "/chat/completions", chat(max_tokens=4) | {"messages": [{"role": "user"}]}, "500", 500,
         "Internal Server Error"),
        ("tool result in the user slot", "/chat/completions",
         {"model": "x", "max_tokens": 4, "temperature": 0, "messages": tool_history},
         "tool results take the user slot", 200, '{"id":'),
        ("stream with n=2", "/chat/completions", chat(max_tokens=4, stream=True) | {"n": 2}, "200 then empty stream",
         200, DROPPED),
        ("stream with tools", "/chat/completions", chat(max_tokens=4, stream=True, tools=[CALC]),
         "refused inside the stream", 200, DROPPED),
    ]  # fmt: skip
    for name, path, body, noted, expected_status, starts in probes:
        status, text = raw(base_url, path, body)
        facts.append((name, f"{status} {text[:120]!r}", noted))
        assert (status, text[: len(starts)]) == (expected_status, starts), (name, status, text[:200])

    status, text = raw(base_url, "/chat/completions", chat(max_tokens=3, temperature=0))
    finish = json.loads(text)["choices"][0]["finish_reason"]
    facts.append(("non-stream max_tokens=3 finish_reason", repr(finish), "(not noted)"))
    assert finish == "length"

    status, text = raw(
        base_url,
        "/chat/completions",
        chat(max_tokens=3, temperature=0, stream=True, stream_options={"include_usage": True}),
    )
    events = sse_events(text)
    finishes = [e["choices"][0].get("finish_reason") for e in events if isinstance(e, dict) and e.get("choices")]
    usage = [e.get("usage") for e in events if isinstance(e, dict) and e.get("usage")]
    facts.append(
        ("stream max_tokens=3 finish_reasons", repr([f for f in finishes if f]), "always 'stop' (even on length)")
    )
    facts.append(("stream include_usage", f"usage chunks {usage!r}; ends {events[-1]!r}", "ignored, no usage"))
    assert [f for f in finishes if f] == ["stop"], "finish_reason is 'stop' even when max_tokens cut the reply"
    assert usage == [] and events[-1] == "[DONE]", "no usage in a stream, whatever stream_options says"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}

    status, text = raw(base_url, "/chat/completions", chat(max_tokens=12, temperature=0, stop=["Paris"], stream=False))
    content = json.loads(text)["choices"][0]["message"]["content"]
    facts.append(("stop=['Paris']", f"{status} {content!r}", "ignored"))
    assert status == 200 and "Paris" in content, "stop is ignored by the Hugging Face backend"
