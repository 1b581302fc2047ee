"""The scripted server playing each engine's context window: where it says its limit, its tokenizer route, and
how it answers a prompt over the limit — each as the engine's own source and issues show it.

The scripted "tokenizer" counts one token per whitespace-separated word, and a chat request's prompt as the words
of every message plus :data:`TEMPLATE` per message (a toy chat template), so tests know the exact figures.

=================  ============================  ==========================  =======================================
engine             its limit                     its tokenizer               a prompt over the limit
=================  ============================  ==========================  =======================================
vLLM               ``max_model_len``, listing    ``POST /tokenize`` prompt   400 "maximum context length is N tokens.
                                                 → ``count``                 However, you requested …" (prompt +
                                                                             max_tokens over the limit is refused)
SGLang             ``max_model_len``, listing    ``POST /tokenize`` prompt   400 "The input (N tokens) is longer than
                                                 → ``count``                 the model's context length (M tokens)."
llama-server       ``/props`` n_ctx, ``/slots``  ``POST /tokenize`` content  400 ``exceed_context_size_error`` with
                                                 → ``tokens``                ``n_prompt_tokens`` and ``n_ctx``
llama-cpp-python   (vt-tui started it)           ``/extras/tokenize/count``  400 context_length_exceeded (its error
                                                 input → ``count``           formatter's words)
Ollama             ``/api/ps`` context_length,   none                        none: the prompt is cut to num_ctx and
                   ``/api/show`` num_ctx                                     ``prompt_tokens`` says so
LMDeploy           not said                      none                        200, no text, finish_reason "length"
=================  ============================  ==========================  =======================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.scripted_server import Reply, ScriptedServer

TEMPLATE = 4  # tokens the toy chat template adds per message


def words(text: Any) -> int:
    if isinstance(text, list):
        text = " ".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
    return len(str(text or "").split())


def prompt_tokens(body: dict[str, Any]) -> int:
    return sum(words(m.get("content")) + TEMPLATE for m in body.get("messages") or ())


def _usage(prompt: int, reply: Reply) -> dict[str, int]:
    """The usage of ``reply`` to a ``prompt``-token request: a token per word it streams."""
    tokens = sum(words(chunk.get("content")) for chunk in reply.chunks)
    return {"prompt_tokens": prompt, "completion_tokens": tokens, "total_tokens": prompt + tokens}


def _tokenizer(field: str, answer: Callable[[int], dict[str, Any]]) -> Callable[[Any], tuple[int, Any]]:
    def tokenize(body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get(field), str):
            return 422, {"detail": f"{field} required"}
        return 200, answer(words(body[field]))

    return tokenize


def _vllm_refusal(size: int, limit: int, max_tokens: int) -> Reply:
    if size >= limit:
        said = (
            f"This model's maximum context length is {limit} tokens. However, you requested {size + max_tokens} "
            f"tokens ({size} in the messages, {max_tokens} in the completion). Please reduce the length of the "
            "messages or completion."
        )
    else:
        said = (
            f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum context "
            f"length is {limit} tokens and your request has {size} input tokens ({max_tokens} > {limit} - {size})."
        )
    return Reply(status=400, body={"object": "error", "message": said, "type": "BadRequestError", "code": 400})


def play(server: ScriptedServer, engine: str, limit: int) -> None:
    """Make ``server`` answer as ``engine`` with a ``limit``-token window (a request that fits gets the echo reply,
    or the next one queued)."""
    server.usage_for = lambda body, reply: _usage(prompt_tokens(body), reply)

    def answer(body: dict[str, Any]) -> Reply | None:
        size, max_tokens = prompt_tokens(body), int(body.get("max_tokens") or 0)
        if engine == "vllm" and size + max_tokens > limit:
            return _vllm_refusal(size, limit, max_tokens)
        if engine == "sglang" and size >= limit:
            said = f"The input ({size} tokens) is longer than the model's context length ({limit} tokens)."
            return Reply(status=400, body={"object": "error", "message": said, "type": "BadRequestError", "code": 400})
        if engine == "llama-server" and size >= limit:
            error = {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": size,
                "n_ctx": limit,
            }
            return Reply(status=400, body={"error": error})
        if engine == "llama-cpp-python" and size >= limit:
            said = (
                f"This model's maximum context length is {limit} tokens. However, you requested {size + max_tokens} "
                f"tokens ({size} in the messages, {max_tokens} in the completion). Please reduce the length of the "
                "messages or completion."
            )
            body = {"error": {"message": said, "type": "invalid_request_error", "code": "context_length_exceeded"}}
            return Reply(status=400, body=body)
        if engine == "lmdeploy" and size + max_tokens > limit:
            return Reply(chunks=[], finish_reason="length")
        return None

    server.validate = answer
    if engine in ("vllm", "sglang"):
        server.owned_by = engine
        server.model_fields = {"root": server.models[0], "max_model_len": limit}
        server.post_routes["/tokenize"] = _tokenizer("prompt", lambda n: {"count": n, "max_model_len": limit})
    elif engine == "llama-server":
        server.owned_by = "llamacpp"
        server.get_routes["/props"] = (200, {"default_generation_settings": {"n_ctx": limit}, "total_slots": 1})
        server.get_routes["/slots"] = (200, [{"id": 0, "n_ctx": limit, "is_processing": False}])
        server.post_routes["/tokenize"] = _tokenizer("content", lambda n: {"tokens": list(range(n))})
    elif engine == "llama-cpp-python":
        server.owned_by, server.server_header, server.usage_in_stream = "me", "uvicorn", False
        server.post_routes["/extras/tokenize/count"] = _tokenizer("input", lambda n: {"count": n})
    elif engine == "ollama":
        name = server.models[0]
        server.owned_by, server.server_header = "library", None
        server.get_routes["/api/version"] = (200, {"version": "0.13.0"})
        server.get_routes["/api/ps"] = (200, {"models": [{"name": name, "model": name, "context_length": limit}]})
        server.post_routes["/api/show"] = lambda body: (
            200,
            {"parameters": f"num_ctx {limit}\ntemperature 0.7", "model_info": {"qwen3.context_length": 40960}},
        )
        server.usage_for = lambda body, reply: _usage(min(prompt_tokens(body), limit), reply)  # cut, silently
    elif engine == "lmdeploy":
        server.owned_by = "lmdeploy"
    else:
        raise ValueError(f"no window played for {engine!r}")
