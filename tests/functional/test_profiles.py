"""Engine profiles against the scripted loopback server playing each engine as its source says it behaves.

Each engine below is set up from what its own code sends (read in the engines' repositories; see the table in
vt_tui/core/profiles.py): the `/v1/models` entries, the `Server` header, the routes only it answers, whether it
honours `stream_options.include_usage`, its error bodies, and, for LLaMA-Factory, its role checks and 500s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.scripted_server import Reply, ScriptedServer, text_reply
from vt_tui.core.agent import ToolPlan, plan_tools
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import EndpointError, ErrorKind
from vt_tui.core.events import TurnFailed, TurnFinished
from vt_tui.core.params import GenerationParams
from vt_tui.core.profiles import PROFILES, ToolMode, metrics_url
from vt_tui.core.session import ChatSession

USAGE = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
FASTAPI_404 = {"detail": "Not Found"}


def llamafactory_rules(body: dict[str, Any]) -> Reply | None:
    """LLaMA-Factory 0.9.5 api/chat.py and protocol.py, and the 500s measured on the real server."""
    messages = body.get("messages") or []
    roles = ("user", "assistant", "system", "function", "tool")
    if any(m.get("role") not in roles for m in messages):
        detail = [{"type": "enum", "loc": ["body", "messages", 0, "role"], "msg": "Input should be 'user', …"}]
        return Reply(status=422, body={"detail": detail})
    if body.get("presence_penalty") == 0 or any(m.get("role") == "user" and m.get("content") is None for m in messages):
        return Reply(status=500, body="Internal Server Error", close=True)  # plain text, connection dropped
    if not messages:
        return Reply(status=400, body={"detail": "Invalid length"})
    rest = messages[1:] if messages[0]["role"] == "system" else messages
    if len(rest) % 2 == 0:
        return Reply(status=400, body={"detail": "Only supports u/a/u/a/u..."})
    for i, m in enumerate(rest):
        if m["role"] not in (("user", "tool") if i % 2 == 0 else ("assistant", "function")):
            return Reply(status=400, body={"detail": "Invalid role"})
    if body.get("stream") and body.get("tools"):  # checked after the 200: the stream closes empty
        return Reply(chunks=[], cut_after=0)
    return None


def as_llamafactory(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["gpt-3.5-turbo"], "owner", "uvicorn"
    server.auth_error = {"detail": "Invalid API key."}
    server.not_found = FASTAPI_404
    server.usage_in_stream = False
    server.get_routes = {"/v1/score/evaluation": (405, {"detail": "Method Not Allowed"})}
    server.validate = llamafactory_rules


def as_vllm(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["Qwen/Qwen2.5-7B-Instruct"], "vllm", "uvicorn"
    server.model_fields = {"root": "Qwen/Qwen2.5-7B-Instruct", "parent": None, "max_model_len": 32768}
    server.get_routes = {
        "/version": (200, {"version": "0.11.0"}),
        "/metrics": (200, "# TYPE vllm:num_requests_running gauge\n"),
    }
    server.not_found = FASTAPI_404


def as_llama_server(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["qwen2.5-7b-instruct-q4_k_m.gguf"], "llamacpp", "llama.cpp"
    server.model_fields = {"meta": {"vocab_type": 2, "n_vocab": 152064, "n_ctx_train": 32768, "n_params": 7615616512}}
    server.get_routes = {"/health": (200, {"status": "ok"}), "/props": (200, {"total_slots": 1})}
    server.not_found = {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}
    server.auth_error = {"error": {"message": "Invalid API Key", "type": "authentication_error", "code": 401}}


def as_llama_cpp_python(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["/models/qwen2.5-7b-instruct-q4_k_m.gguf"], "me", "uvicorn"
    server.model_fields = {"permissions": []}
    server.extra_headers = {"openai-processing-ms": "1", "x-request-id": "0123"}  # it sends these too
    server.usage_in_stream = False
    server.not_found = FASTAPI_404


def as_ollama(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["llama3.2:latest", "qwen2.5:7b"], "library", None
    server.get_routes = {"/api/version": (200, {"version": "0.12.3"}), "/": (200, "Ollama is running")}
    server.not_found = "404 page not found"


def as_lmdeploy(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["internlm2_5-7b-chat"], "lmdeploy", "uvicorn"
    server.model_fields = {"root": "internlm2_5-7b-chat", "parent": None, "permission": [{"id": "modelperm-1"}]}
    server.get_routes = {"/health": (200, ""), "/metrics": (200, "# TYPE lmdeploy:num_requests_running gauge\n")}
    server.not_found = FASTAPI_404


def as_openai(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["gpt-4o-mini", "gpt-4o"], "system", "cloudflare"
    server.extra_headers = {"openai-version": "2020-10-01", "openai-processing-ms": "12"}


def as_generic(server: ScriptedServer) -> None:
    server.models, server.owned_by, server.server_header = ["my-model"], "someone", "nginx"


# engine, set-up, profile name, profile title, routes probed beyond /v1/models, sends stream_options
ENGINES: list[tuple[str, Callable[[ScriptedServer], None], str, str, tuple[str, ...], bool]] = [
    ("llama-factory", as_llamafactory, "llama-factory", "LLaMA-Factory", (), False),
    ("vllm", as_vllm, "vllm", "vLLM", (), True),
    ("llama-server", as_llama_server, "llama-cpp", "llama.cpp (llama-server)", (), True),
    ("llama-cpp-python", as_llama_cpp_python, "llama-cpp", "llama-cpp-python", (), False),
    ("ollama", as_ollama, "ollama", "Ollama", ("/api/version",), True),
    ("lmdeploy", as_lmdeploy, "lmdeploy", "LMDeploy", (), True),
    ("openai", as_openai, "openai", "OpenAI API", (), True),
    ("generic", as_generic, "generic", "OpenAI-compatible server", ("/api/version", "/version"), True),
]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


# Asked once per model for the context window (tests/functional/test_context.py), not to detect the engine.
CONTEXT_ROUTES = {route for profile in PROFILES.values() for route in profile.context_routes}


def probes(server: ScriptedServer) -> list[str]:
    return [
        r["path"]
        for r in server.requests
        if r["body"] is None and not r["path"].startswith("/v1/") and r["path"] not in CONTEXT_ROUTES
    ]


def window_probes(server: ScriptedServer) -> list[str]:
    return [r["path"] for r in server.requests if r["path"] in CONTEXT_ROUTES]


async def run(session: ChatSession, text: str = "hi") -> list:
    return [event async for event in session.run_turn(text)]


@pytest.mark.parametrize(("engine", "setup", "name", "title", "probed", "usage"), ENGINES, ids=[e[0] for e in ENGINES])
async def test_detects_engine_and_shapes_a_turn_for_it(
    server: ScriptedServer, engine: str, setup, name: str, title: str, probed: tuple[str, ...], usage: bool
) -> None:
    setup(server)
    endpoint = Endpoint(server.base_url, request_timeout=5)
    await endpoint.list_models()
    assert (endpoint.profile.name, endpoint.profile.title) == (name, title), endpoint.detection
    assert endpoint.detection is not None and endpoint.detection.reasons
    assert probes(server) == list(probed), "probes: at most two cheap GETs, only when the listing says nothing"
    assert len(probed) <= 2

    server.queue(text_reply("Paris is the capital.", usage=USAGE))
    session = ChatSession(endpoint, system="Be brief.", params=GenerationParams(max_tokens=64))
    done = (await run(session, "What is the capital of France?"))[-1]
    assert isinstance(done, TurnFinished), done
    body = server.chat_requests[-1]
    assert body["max_tokens"] == 64 and body["model"] == server.models[0]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert ("stream_options" in body) is usage
    assert done.stats.tokens_source == ("server" if usage else "counted")

    asked = window_probes(server)
    assert len(asked) <= len(endpoint.profile.context_routes)
    await endpoint.list_models()  # detection is done once and cached on the endpoint, the window asked once
    await run(session, "again")
    assert len(probes(server)) == len(probed) and window_probes(server) == asked
    await endpoint.aclose()


@pytest.mark.parametrize(("engine", "setup", "name", "title", "probed", "usage"), ENGINES, ids=[e[0] for e in ENGINES])
async def test_wrong_key_is_one_clear_line_in_the_servers_words(
    server: ScriptedServer, engine: str, setup, name: str, title: str, probed: tuple[str, ...], usage: bool
) -> None:
    setup(server)
    server.api_key = "right"
    failed = (await run(ChatSession(Endpoint(server.base_url, "wrong", request_timeout=5))))[-1]
    assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.AUTH
    said = json.dumps(server.auth_error)
    assert "Invalid API" in str(failed.error) and "\n" not in str(failed.error) and "{" not in failed.error.message
    assert "401" in failed.error.message and "--api-key" in failed.error.hint, said


async def test_model_given_still_detects_before_the_first_request(server: ScriptedServer) -> None:
    as_llamafactory(server)
    session = ChatSession(Endpoint(server.base_url, request_timeout=5), model="gpt-3.5-turbo", system="S.")
    session.turns = []
    assert isinstance((await run(session, "one"))[-1], TurnFinished)
    assert session.endpoint.profile.name == "llama-factory"
    assert "stream_options" not in server.chat_requests[-1]


@pytest.mark.parametrize(
    ("routes", "header", "owned_by", "title", "probed"),
    [
        # FastAPI with its docs: one GET of /openapi.json tells the FastAPI engines apart
        (
            {"/openapi.json": (200, {"info": {"title": "FastAPI"}, "paths": {"/v1/score/evaluation": {}}})},
            "uvicorn",
            "custom",
            "LLaMA-Factory",
            ["/openapi.json"],
        ),
        (
            {"/openapi.json": (200, {"info": {"title": "🦙 llama.cpp Python API"}, "paths": {"/extras/tokenize": {}}})},
            "uvicorn",
            "custom",
            "llama-cpp-python",
            ["/openapi.json"],
        ),
        (
            {"/openapi.json": (200, {"info": {"title": "FastAPI"}, "paths": {"/generate": {}, "/get_ppl": {}}})},
            "uvicorn",
            "custom",
            "LMDeploy",
            ["/openapi.json"],
        ),
        # vLLM started with --disable-fastapi-docs: /openapi.json 404s, /version answers
        ({"/version": (200, {"version": "0.11.0"})}, "uvicorn", "custom", "vLLM", ["/openapi.json", "/version"]),
        # Ollama serving a Hugging Face GGUF: owned_by is the repository's namespace, not "library"
        ({"/api/version": (200, {"version": "0.12.3"})}, None, "bartowski", "Ollama", ["/api/version"]),
    ],
)
async def test_probes_settle_what_the_listing_leaves_open(
    server: ScriptedServer, routes: dict, header: str | None, owned_by: str, title: str, probed: list[str]
) -> None:
    server.get_routes, server.server_header, server.owned_by = routes, header, owned_by
    endpoint = Endpoint(server.base_url, request_timeout=5)
    await endpoint.list_models()
    assert endpoint.profile.title == title
    assert probes(server) == probed and endpoint.detection.probed == tuple(probed)
    assert server.connections == 1, "probes reuse the kept-alive connection"


@pytest.mark.parametrize(
    ("setup", "title"), [(as_llama_cpp_python, "llama-cpp-python"), (as_llama_server, "llama.cpp (llama-server)")]
)
async def test_explicit_engine_is_not_probed_but_llama_cpp_flavour_is_read(
    server: ScriptedServer, setup, title: str
) -> None:
    setup(server)
    endpoint = Endpoint(server.base_url, engine="llama-cpp")
    assert endpoint.profile.title == "llama-cpp-python", "the cautious one until the listing says"
    assert await endpoint.resolve_model("any-model") == "any-model"  # a given model still reads the listing once
    assert (
        endpoint.profile.title == title and "engine llama-cpp given; the listing shows" in endpoint.detection.reasons[0]
    )
    assert probes(server) == []
    forced = Endpoint(server.base_url, engine="vllm")
    assert await forced.resolve_model("m") == "m" and forced.profile.name == "vllm"
    assert [r["path"] for r in server.requests].count("/v1/models") == 1, "vllm given: nothing to read"


# LLaMA-Factory: the client rules that keep its raw errors from users


@pytest.fixture
def llamafactory(server: ScriptedServer) -> ScriptedServer:
    as_llamafactory(server)
    return server


async def chunks(endpoint: Endpoint, messages: list[dict], params: dict | None = None) -> str:
    return "".join([c.content async for c in endpoint.stream_chat("m", messages, params or {"max_tokens": 8})])


VIOLATING = [
    {"role": "user", "content": "first try"},
    {"role": "user", "content": "second try, after a failed turn"},
    {"role": "assistant", "content": "one"},
    {"role": "assistant", "content": "two"},
    {"role": "system", "content": "late system"},
    {"role": "developer", "content": "dev"},
    {"role": "user", "content": "now?"},
]


async def test_without_the_rules_the_server_rejects_with_fastapi_detail(llamafactory: ScriptedServer) -> None:
    """The scripted server really enforces the rules, and errors.py turns {"detail"} into a readable line."""
    endpoint = Endpoint(llamafactory.base_url, engine="openai")
    with pytest.raises(EndpointError) as err:
        await chunks(endpoint, VIOLATING[:2])
    assert err.value.kind is ErrorKind.BAD_REQUEST and err.value.status == 400
    assert str(err.value) == "Request rejected (400): Only supports u/a/u/a/u..."
    with pytest.raises(EndpointError) as err:
        await chunks(endpoint, [{"role": "user", "content": "hi"}], {"max_tokens": 8, "presence_penalty": 0})
    assert err.value.status == 500 and "Internal Server Error" in str(err.value)


async def test_history_that_breaks_alternation_still_gets_a_200(llamafactory: ScriptedServer) -> None:
    endpoint = Endpoint(llamafactory.base_url)
    assert await chunks(endpoint, VIOLATING) == "You said: now?"
    sent = llamafactory.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == "late system\n\ndev" and sent[1]["content"].startswith("first try\n\nsecond try")


async def test_zero_presence_penalty_not_sent_max_tokens_always_sent(llamafactory: ScriptedServer) -> None:
    endpoint = Endpoint(llamafactory.base_url)
    await endpoint.list_models()
    await chunks(endpoint, [{"role": "user", "content": "hi"}], {"presence_penalty": 0, "frequency_penalty": 0})
    body = llamafactory.chat_requests[-1]
    assert "presence_penalty" not in body and body["max_tokens"] == 1024
    result = await endpoint.complete("m", [{"role": "user", "content": None}, {"role": "user", "content": "x"}], {})
    assert result["choices"][0]["finish_reason"] == "stop"
    assert llamafactory.chat_requests[-1]["messages"] == [{"role": "user", "content": "x"}]


async def test_tools_are_not_streamed_to_it(llamafactory: ScriptedServer) -> None:
    endpoint = Endpoint(llamafactory.base_url)
    await endpoint.list_models()
    tools = [{"type": "function", "function": {"name": "calc", "description": "", "parameters": {}}}]
    with pytest.raises(EndpointError) as err:
        await chunks(endpoint, [{"role": "user", "content": "2+2"}], {"tools": tools})
    assert "cannot stream" in err.value.message and llamafactory.chat_requests == []
    plan = plan_tools(ToolMode.AUTO, endpoint.profile, max_steps=6)
    assert (plan.mode, plan.streamed) == ("native", False) and "non-streamed" in plan.why


async def test_500_that_drops_the_connection_then_next_turn_works(llamafactory: ScriptedServer) -> None:
    session = ChatSession(Endpoint(llamafactory.base_url, request_timeout=5))
    llamafactory.queue(Reply(status=500, body="Internal Server Error", close=True))
    failed = (await run(session))[-1]
    assert isinstance(failed, TurnFailed) and "Server error 500" in str(failed.error)
    assert isinstance((await run(session, "again"))[-1], TurnFinished)


@pytest.mark.parametrize("status", [500, 200])
async def test_stale_kept_alive_connection_is_retried_once(llamafactory: ScriptedServer, status: int) -> None:
    """The server answers (no Connection: close) but drops the next request on that connection unanswered:
    what a client sees when it reuses the connection before LLaMA-Factory's close after a 500 arrives."""
    session = ChatSession(Endpoint(llamafactory.base_url, request_timeout=5))
    first = Reply(status=500, body="Internal Server Error") if status == 500 else text_reply("ok")
    first.drop_next = True
    llamafactory.queue(first)
    await run(session)
    assert isinstance((await run(session, "next"))[-1], TurnFinished)
    assert llamafactory.dropped == 1 and llamafactory.connections == 2


async def test_stale_connection_retry_for_models_and_completions(llamafactory: ScriptedServer) -> None:
    endpoint = Endpoint(llamafactory.base_url, request_timeout=5)
    llamafactory.queue(Reply(status=500, body="Internal Server Error", drop_next=True))
    with pytest.raises(EndpointError):
        await endpoint.complete("m", [{"role": "user", "content": "boom"}], {})
    assert await endpoint.list_models() == ["gpt-3.5-turbo"]  # first GET dropped, sent again
    llamafactory.queue(text_reply("fine", drop_next=True))
    await endpoint.complete("m", [{"role": "user", "content": "a"}], {})
    assert (await endpoint.complete("m", [{"role": "user", "content": "b"}], {}))["choices"][0]["message"]
    assert llamafactory.dropped == 2


async def test_connection_refused_is_not_retried() -> None:
    from tests.support.ports import closed_port

    endpoint = Endpoint(f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(EndpointError) as err:
        await chunks(endpoint, [{"role": "user", "content": "hi"}])
    assert err.value.kind is ErrorKind.CONNECTION


def test_metrics_urls_and_tool_modes() -> None:
    from vt_tui.core.profiles import GENERIC, LLAMA_CPP_PYTHON, LLAMA_FACTORY, LLAMA_SERVER, OLLAMA, VLLM

    assert metrics_url("http://gpu:8000/v1", VLLM) == "http://gpu:8000/metrics"
    assert metrics_url("http://gpu:8080/v1/", LLAMA_SERVER) == "http://gpu:8080/metrics"
    assert metrics_url("http://gpu:8000/v1", LLAMA_FACTORY) is None and metrics_url("http://x/v1", OLLAMA) is None
    vllm = plan_tools(ToolMode.AUTO, VLLM, max_steps=6)
    assert (vllm.mode, vllm.streamed) == (ToolMode.NATIVE, True)
    assert plan_tools(ToolMode.AUTO, LLAMA_CPP_PYTHON, max_steps=6).mode is ToolMode.TEXT
    assert plan_tools(ToolMode.AUTO, GENERIC, max_steps=6).mode is ToolMode.TEXT
    assert plan_tools(ToolMode.OFF, VLLM, max_steps=6) == ToolPlan(ToolMode.OFF, False, "tools = off (your setting)")
    assert plan_tools(ToolMode.NATIVE, VLLM, max_steps=1).mode is ToolMode.OFF, "one step leaves no room for tools"
