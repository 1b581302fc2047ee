"""Prometheus parsing of dcgm-exporter, vLLM and llama-server text, and the HTTP source."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from vt_tui.gpu.models import MIB
from vt_tui.gpu.prometheus import PrometheusSource, parse_dcgm, parse_engine

FIXTURES = Path(__file__).parents[1] / "fixtures"
DCGM = (FIXTURES / "prom-dcgm.txt").read_text()
VLLM = (FIXTURES / "prom-vllm.txt").read_text()
LLAMACPP = (FIXTURES / "prom-llamacpp.txt").read_text()
H100_TOTAL = 81559 * MIB


def test_dcgm_gives_one_sample_per_gpu() -> None:
    first, second = parse_dcgm(DCGM)
    assert first.index == 0 and second.index == 1
    assert (first.name, first.host) == ("NVIDIA H100 80GB HBM3", "gpubox")
    assert first.uuid == "GPU-5d0e7a41-9c2b-4f83-b6a1-0e4c2d9f7a13"
    assert (first.mem_used, first.mem_total) == (74213 * MIB, H100_TOTAL)
    assert (first.util_gpu, first.util_mem, first.temperature_c) == (87, 41, 64)
    assert (first.power_w, first.power_limit_w, first.sm_clock_mhz) == (512.347, None, 1980)
    assert (second.mem_used, second.mem_total, second.power_w) == (1 * MIB, H100_TOTAL, 71.583)
    assert first.processes == ()


def test_vllm_figures() -> None:
    metrics = parse_engine("http://127.0.0.1:8000/metrics", VLLM, now=100.0)
    assert metrics is not None
    assert (metrics.engine, metrics.kv_cache_usage, metrics.running, metrics.waiting) == (
        "vLLM",
        0.4231,
        3,
        1,
    )
    assert metrics.gen_tokens_per_s is None  # one scrape gives no rate, and v1 has no throughput gauge
    assert metrics.raw["vllm:request_success_total"] == 43.0  # summed over finished_reason
    assert "vllm:time_to_first_token_seconds_bucket" not in metrics.raw


def test_vllm_generation_rate_comes_from_the_counter() -> None:
    first = parse_engine("u", VLLM, now=100.0)
    later = VLLM.replace("} 15872.0", "} 16872.0")
    assert parse_engine("u", later, now=102.0, previous=(100.0, first)).gen_tokens_per_s == 500.0
    restarted = VLLM.replace("} 15872.0", "} 10.0")
    assert parse_engine("u", restarted, now=102.0, previous=(100.0, first)).gen_tokens_per_s is None


def test_vllm_v0_names() -> None:
    text = (
        'vllm:gpu_cache_usage_perc{model_name="m"} 0.25\n'
        'vllm:num_requests_running{model_name="m"} 2.0\n'
        'vllm:num_requests_waiting{model_name="m"} 0.0\n'
        'vllm:avg_generation_throughput_toks_per_s{model_name="m"} 812.5\n'
    )
    metrics = parse_engine("u", text, now=0.0)
    assert (metrics.kv_cache_usage, metrics.running, metrics.waiting, metrics.gen_tokens_per_s) == (
        0.25,
        2,
        0,
        812.5,
    )


def test_llamacpp_figures() -> None:
    metrics = parse_engine("u", LLAMACPP, now=0.0)
    assert (metrics.engine, metrics.kv_cache_usage, metrics.running, metrics.waiting) == (
        "llama.cpp",
        0.178711,
        1,
        0,
    )
    assert metrics.gen_tokens_per_s == 97.8764
    assert metrics.raw["llamacpp:tokens_predicted_total"] == 3469


def test_llamacpp_builds_without_the_kv_gauge() -> None:
    text = "\n".join(line for line in LLAMACPP.splitlines() if "kv_cache" not in line)
    assert parse_engine("u", text, now=0.0).kv_cache_usage is None


def test_other_text_is_no_engine() -> None:
    assert parse_engine("u", DCGM, now=0.0) is None


class _Handler(BaseHTTPRequestHandler):
    pages = {"/dcgm": DCGM, "/vllm": VLLM, "/llamacpp": LLAMACPP, "/other": "up 1\n"}

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write((body or "not found").encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _refusing_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


async def test_source_scrapes_every_url_and_reports_failures(server: str) -> None:
    refused = _refusing_url()
    urls = [
        f"{server}/dcgm",
        f"{server}/vllm",
        f"{server}/llamacpp",
        f"{server}/missing",
        f"{server}/other",
        refused,
    ]
    async with httpx.AsyncClient(timeout=1.0) as client:
        source = PrometheusSource(urls, client)
        reading = await source.fetch()
        assert [g.index for g in reading.gpus] == [0, 1]
        engines = {e.url: e for e in reading.engines}
        assert engines[f"{server}/vllm"].kv_cache_usage == 0.4231
        assert engines[f"{server}/llamacpp"].gen_tokens_per_s == 97.8764
        assert engines[f"{server}/missing"].error == "HTTP 404"
        assert engines[f"{server}/other"].error == "no vLLM, llama.cpp or DCGM metrics"
        assert engines[refused].error == "Connection refused"
        assert f"{server}/dcgm" not in engines
        await source.aclose()
        assert not client.is_closed  # a client handed in stays the caller's


async def test_source_rate_over_two_scrapes() -> None:
    pages = iter([VLLM, VLLM.replace("} 15872.0", "} 15972.0")])
    times = iter([10.0, 10.5])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=next(pages)))
    async with httpx.AsyncClient(transport=transport) as client:
        source = PrometheusSource(["http://127.0.0.1:1/metrics"], client, clock=lambda: next(times))
        await source.fetch()
        (metrics,) = (await source.fetch()).engines
    assert metrics.gen_tokens_per_s == 200.0


async def test_source_makes_and_closes_its_own_client(server: str) -> None:
    source = PrometheusSource([f"{server}/vllm"])
    assert (await source.fetch()).engines[0].running == 3
    client = source._client
    await source.aclose()
    assert client.is_closed
