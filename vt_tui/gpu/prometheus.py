"""Prometheus text from dcgm-exporter and serving engines (vLLM, llama-server) -> records."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from vt_tui.gpu.models import MIB, EngineMetrics, GpuSample, PrometheusReading

FETCH_TIMEOUT_S = 1.0
Series = dict[str, list[tuple[dict[str, str], float]]]  # sample name -> [(labels, value), ...]


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """Where one serving engine keeps the figures the pane shows."""

    engine: str
    prefix: str
    kv_cache: tuple[str, ...]  # 0..1 gauges, first present wins
    running: str
    waiting: str
    gen_counter: str | None  # tokens counter, turned into a rate between scrapes
    gen_gauge: str  # tokens/s gauge, used when no rate can be had


ENGINES = (
    EngineSpec(
        engine="vLLM",
        prefix="vllm:",
        kv_cache=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        running="vllm:num_requests_running",
        waiting="vllm:num_requests_waiting",
        gen_counter="vllm:generation_tokens_total",
        gen_gauge="vllm:avg_generation_throughput_toks_per_s",
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


def _series(text: str) -> Series:
    """Gauge and counter samples by name: [(labels, value), ...]."""
    series: Series = defaultdict(list)
    for family in text_string_to_metric_families(text):
        if family.type in ("gauge", "counter", "unknown"):
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    series[sample.name].append((sample.labels, sample.value))
    return series


def parse_dcgm(text: str) -> tuple[GpuSample, ...]:
    """One GpuSample per `gpu` label of dcgm-exporter output (no process list)."""
    return _dcgm_gpus(_series(text))


def _dcgm_gpus(series: Series) -> tuple[GpuSample, ...]:
    values: dict[int, dict[str, float]] = defaultdict(dict)
    labels: dict[int, dict[str, str]] = {}
    for name, points in series.items():
        if name.startswith("DCGM_FI_DEV_"):
            for point_labels, value in points:
                if "gpu" in point_labels:
                    gpu = int(point_labels["gpu"])
                    values[gpu][name.removeprefix("DCGM_FI_DEV_")] = value
                    labels.setdefault(gpu, point_labels)
    return tuple(_dcgm_sample(gpu, values[gpu], labels[gpu]) for gpu in sorted(values))


def _dcgm_sample(gpu: int, v: dict[str, float], labels: dict[str, str]) -> GpuSample:
    def whole(key: str) -> int | None:
        return int(v[key]) if key in v else None

    used, free = v.get("FB_USED"), v.get("FB_FREE")
    total = used + free + v.get("FB_RESERVED", 0.0) if used is not None and free is not None else None
    return GpuSample(
        index=gpu,
        name=labels.get("modelName", f"GPU {gpu}"),
        uuid=labels.get("UUID"),
        mem_used=int(used * MIB) if used is not None else None,
        mem_total=int(total * MIB) if total is not None else None,
        util_gpu=whole("GPU_UTIL"),
        util_mem=whole("MEM_COPY_UTIL"),
        temperature_c=whole("GPU_TEMP"),
        power_w=v.get("POWER_USAGE"),
        power_limit_w=v.get("POWER_MGMT_LIMIT"),
        sm_clock_mhz=whole("SM_CLOCK"),
        host=labels.get("Hostname"),
    )


def parse_engine(
    url: str, text: str, now: float, previous: tuple[float, EngineMetrics] | None = None
) -> EngineMetrics | None:
    """Engine figures (summed over label sets; KV cache the fullest), None if no engine matched.

    `previous` is the (time, metrics) of the last scrape of this URL, for counter rates.
    """
    return _engine(url, _series(text), now, previous)


def _engine(
    url: str,
    series: Series,
    now: float,
    previous: tuple[float, EngineMetrics] | None,
) -> EngineMetrics | None:
    for spec in ENGINES:
        raw = {name: sum(v for _, v in pts) for name, pts in series.items() if name.startswith(spec.prefix)}
        if not raw:
            continue
        kv = next((max(v for _, v in series[k]) for k in spec.kv_cache if k in series), None)
        rate = _rate(spec.gen_counter, raw, now, previous) if spec.gen_counter else None
        return EngineMetrics(
            url=url,
            kv_cache_usage=kv,
            running=int(raw[spec.running]) if spec.running in raw else None,
            waiting=int(raw[spec.waiting]) if spec.waiting in raw else None,
            gen_tokens_per_s=rate if rate is not None else raw.get(spec.gen_gauge),
            raw=raw,
            engine=spec.engine,
        )
    return None


def _rate(
    counter: str, raw: dict[str, float], now: float, previous: tuple[float, EngineMetrics] | None
) -> float | None:
    if previous is None or counter not in raw or counter not in previous[1].raw:
        return None
    then, metrics = previous
    tokens, seconds = raw[counter] - metrics.raw[counter], now - then
    return tokens / seconds if seconds > 0 and tokens >= 0 else None


def _reason(error: Exception) -> str:
    """A short why for a failed scrape, e.g. "Connection refused" rather than httpx's wrapper text."""
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    cause: BaseException = error
    while (inner := cause.__cause__ or cause.__context__) is not None:
        cause = inner
    if isinstance(cause, OSError) and cause.errno and cause.errno > 0:
        return os.strerror(cause.errno)
    return str(error) or type(error).__name__


class PrometheusSource:
    """Scrapes Prometheus endpoints with one shared AsyncClient; a failing URL becomes an error row."""

    def __init__(
        self,
        urls: Sequence[str],
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.urls = tuple(urls)
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._previous: dict[str, tuple[float, EngineMetrics]] = {}

    async def fetch(self) -> PrometheusReading:
        """Scrape every URL concurrently."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=FETCH_TIMEOUT_S)
        results = await asyncio.gather(*(self._fetch_one(self._client, url) for url in self.urls))
        gpus = tuple(g for found, _ in results for g in found)
        return PrometheusReading(gpus, tuple(e for _, e in results if e is not None))

    async def aclose(self) -> None:
        """Close the client if this source made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _fetch_one(
        self, client: httpx.AsyncClient, url: str
    ) -> tuple[tuple[GpuSample, ...], EngineMetrics | None]:
        try:
            response = await client.get(url)
            response.raise_for_status()
            series = _series(response.text)
            gpus = _dcgm_gpus(series)
        except httpx.HTTPStatusError as error:
            return (), EngineMetrics(url, error=f"HTTP {error.response.status_code}")
        except (httpx.HTTPError, ValueError) as error:
            return (), EngineMetrics(url, error=_reason(error))
        now = self._clock()
        engine = _engine(url, series, now, self._previous.get(url))
        if engine is not None:
            self._previous[url] = (now, engine)
        elif not gpus:
            engine = EngineMetrics(url, error="no vLLM, llama.cpp or DCGM metrics")
        return gpus, engine
