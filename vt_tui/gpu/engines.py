"""What serving engines say about themselves → EngineMetrics, by their current metric names.

vLLM (V1: `kv_cache_usage_perc`, counters for tokens and prefix-cache hits), SGLang
(`--enable-metrics`: `sglang:*`), llama.cpp (`--metrics`; its KV gauges were removed, so `/slots`
and `/props` give the context figures), Ollama (no Prometheus endpoint: `/api/ps`). Rates come
from counters between two scrapes; an engine's gauge stands in until there are two. The context
window in each answer is read by `vt_tui.core.context`'s readers: the chat fits its requests by the
same rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vt_tui.core.context import listing_context, ps_context, slot_context
from vt_tui.gpu.models import EngineMetrics, LoadedModel
from vt_tui.gpu.promtext import Series, parse_series


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """Where one serving engine keeps the figures the pane shows (None: it has no such figure)."""

    engine: str
    prefix: str
    kv_cache: tuple[str, ...]  # 0..1 gauges, first present wins
    running: str
    waiting: str
    gen_counter: str | None  # tokens counter, turned into a rate between scrapes
    gen_gauge: str | None  # tokens/s gauge, used when no rate can be had
    hit_counters: tuple[str, str] | None = None  # (hits, queries) of the prefix cache, in tokens
    hit_gauge: str | None = None  # 0..1, used without counters
    preemptions: str | None = None
    context_limit: str | None = None  # a gauge holding the context window


ENGINES = (
    EngineSpec(
        engine="vLLM",
        prefix="vllm:",
        kv_cache=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        running="vllm:num_requests_running",
        waiting="vllm:num_requests_waiting",
        gen_counter="vllm:generation_tokens_total",
        gen_gauge="vllm:avg_generation_throughput_toks_per_s",
        hit_counters=("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"),
        hit_gauge="vllm:gpu_prefix_cache_hit_rate",
        preemptions="vllm:num_preemptions_total",
    ),
    EngineSpec(
        engine="SGLang",
        prefix="sglang:",
        kv_cache=("sglang:token_usage",),
        running="sglang:num_running_reqs",
        waiting="sglang:num_queue_reqs",
        gen_counter="sglang:generation_tokens_total",
        gen_gauge="sglang:gen_throughput",
        hit_gauge="sglang:cache_hit_rate",
        context_limit="sglang:context_len",
    ),
    EngineSpec(
        engine="llama.cpp",
        prefix="llamacpp:",
        kv_cache=("llamacpp:kv_cache_usage_ratio",),
        running="llamacpp:requests_processing",
        waiting="llamacpp:requests_deferred",
        gen_counter=None,  # llama-server's gauge already covers the time since the last scrape
        gen_gauge="llamacpp:predicted_tokens_seconds",
    ),
)
ENGINE_NAMES = (*(spec.engine for spec in ENGINES), "Ollama")

Previous = tuple[float, EngineMetrics]  # (time, metrics) of the last scrape of the same URL
REPLICA_LABELS = frozenset({"tp_rank", "pp_rank", "moe_ep_rank"})  # ranks of one engine report the same figure


def _total(points: Sequence[tuple[dict[str, str], float]]) -> float:
    """Sum over label sets (models, data-parallel ranks), counting a figure repeated by each tensor- or
    pipeline-parallel rank once: SGLang with TP=2 reports `num_running_reqs` 4 on both ranks for 4 requests."""
    groups: dict[frozenset[tuple[str, str]], float] = {}
    for labels, value in points:
        key = frozenset((k, v) for k, v in labels.items() if k not in REPLICA_LABELS)
        groups[key] = max(groups.get(key, value), value)
    return sum(groups.values())


def parse_engine(url: str, text: str, now: float, previous: Previous | None = None) -> EngineMetrics | None:
    """Engine figures from Prometheus text, None if no known engine wrote it."""
    return engine_metrics(url, parse_series(text), now, previous)


def engine_metrics(url: str, series: Series, now: float, previous: Previous | None) -> EngineMetrics | None:
    """Figures summed over label sets (see `_total`); KV cache and context window the largest."""
    for spec in ENGINES:
        raw = {name: _total(pts) for name, pts in series.items() if name.startswith(spec.prefix)}
        if not raw:
            continue

        def largest(name: str | None) -> float | None:
            return max(v for _, v in series[name]) if name in series else None

        rate = _rate(spec.gen_counter, raw, now, previous) if spec.gen_counter else None
        preempted = raw.get(spec.preemptions) if spec.preemptions else None
        limit = largest(spec.context_limit)
        return EngineMetrics(
            url=url,
            kv_cache_usage=next((largest(k) for k in spec.kv_cache if k in series), None),
            running=int(raw[spec.running]) if spec.running in raw else None,
            waiting=int(raw[spec.waiting]) if spec.waiting in raw else None,
            gen_tokens_per_s=rate if rate is not None else raw.get(spec.gen_gauge) if spec.gen_gauge else None,
            raw=raw,
            engine=spec.engine,
            cache_hit_rate=_hit_rate(spec, raw, previous),
            preemptions=int(preempted) if preempted is not None else None,
            context_limit=int(limit) if limit else None,
        )
    return None


def _rate(counter: str, raw: dict[str, float], now: float, previous: Previous | None) -> float | None:
    if previous is None or counter not in raw or counter not in previous[1].raw:
        return None
    then, metrics = previous
    tokens, seconds = raw[counter] - metrics.raw[counter], now - then
    return tokens / seconds if seconds > 0 and tokens >= 0 else None


def _hit_rate(spec: EngineSpec, raw: dict[str, float], previous: Previous | None) -> float | None:
    """Prefix-cache hits over queries in the last interval that had queries; since start on the first scrape."""
    if spec.hit_counters is None or spec.hit_counters[1] not in raw:
        return raw.get(spec.hit_gauge) if spec.hit_gauge else None
    hits_name, queries_name = spec.hit_counters
    hits, queries = raw.get(hits_name, 0.0), raw[queries_name]
    if previous is not None and queries_name in previous[1].raw:
        before = previous[1]
        new_hits, new_queries = hits - before.raw.get(hits_name, 0.0), queries - before.raw[queries_name]
        if new_queries > 0 and new_hits >= 0:
            return new_hits / new_queries
        if new_queries == 0:
            return before.cache_hit_rate
    return hits / queries if queries > 0 else None


def slot_tokens(slot: Mapping[str, Any]) -> int | None:
    """Tokens in one llama-server slot's context: `n_past` (newer builds), else prompt plus decoded."""
    if isinstance(slot.get("n_past"), int):
        return slot["n_past"]
    prompt = slot.get("n_prompt_tokens")
    following = slot.get("next_token")
    first = following[0] if isinstance(following, list) and following else following
    decoded = first.get("n_decoded") if isinstance(first, Mapping) else None
    if isinstance(prompt, int):
        return prompt + (decoded if isinstance(decoded, int) else 0)
    return None


def llamacpp_slots(metrics: EngineMetrics, slots: Sequence[Mapping[str, Any]]) -> EngineMetrics:
    """Context figures from llama-server's `GET /slots`: the busiest working slot (else the fullest), and the
    KV cache as the share of all slots' windows in use when `/metrics` no longer says."""
    windows = [(slot_tokens(s), slot_context(s), bool(s.get("is_processing"))) for s in slots]
    windows = [(used, limit, busy) for used, limit, busy in windows if isinstance(used, int) and isinstance(limit, int)]
    if not windows:
        return metrics
    used, limit, _ = max(windows, key=lambda w: (w[2], w[0]))
    total = sum(w[1] for w in windows)
    kv = metrics.kv_cache_usage
    if kv is None and total:
        kv = sum(w[0] for w in windows) / total
    return replace(metrics, context_used=used, context_limit=limit, kv_cache_usage=kv)


def models_context(models: Mapping[str, Any]) -> int | None:
    """vLLM's `max_model_len` from the body of `GET /v1/models` (the largest, if it serves several)."""
    data = models.get("data")
    return listing_context(data if isinstance(data, list) else ())


def ollama_ps(url: str, data: Mapping[str, Any]) -> EngineMetrics:
    """Ollama's `GET /api/ps`: the models it holds, their size and the share of it in VRAM."""
    models = tuple(
        LoadedModel(
            name=str(m.get("name") or m.get("model") or "?"),
            size_bytes=int(m.get("size") or 0),
            vram_bytes=int(m.get("size_vram") or 0),
            context_length=ps_context(m),
        )
        for m in data.get("models") or ()
        if isinstance(m, Mapping)
    )
    limits = [m.context_length for m in models if m.context_length]
    return EngineMetrics(url=url, engine="Ollama", models=models, context_limit=max(limits) if limits else None)
