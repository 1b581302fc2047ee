"""Engines' and GPU exporters' own output (fixtures) → records, and the scraping source against real
HTTP servers on 127.0.0.1 that serve those fixtures on the engines' routes."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.metrics_server import MetricsServer, fixture
from tests.support.ports import closed_port
from vt_tui.core.context import props_context
from vt_tui.gpu.engines import llamacpp_slots, ollama_ps, parse_engine, slot_tokens
from vt_tui.gpu.exporters import exporter_gpus, parse_dcgm
from vt_tui.gpu.models import GIB, MIB, HostSource
from vt_tui.gpu.prometheus import PrometheusSource, metrics_root
from vt_tui.gpu.promtext import parse_series

DCGM = fixture("prom-dcgm.txt")
NVITOP = fixture("prom-nvitop.txt")
VLLM = fixture("prom-vllm.txt")
SGLANG = fixture("prom-sglang.txt")
LLAMACPP = fixture("prom-llamacpp.txt")
LLAMACPP_NOW = fixture("prom-llamacpp-current.txt")
SLOTS = json.loads(fixture("prom-llamacpp-slots.json"))
PROPS = json.loads(fixture("prom-llamacpp-props.json"))
OLLAMA_PS = json.loads(fixture("prom-ollama-ps.json"))
H100_TOTAL = 81559 * MIB
H200_TOTAL = 143771 * MIB


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


def test_dcgm_without_a_hostname_label_takes_the_url_host() -> None:
    text = DCGM.replace(',Hostname="gpubox"', "")
    assert {g.host for g in parse_dcgm(text, "10.0.0.5")} == {"10.0.0.5"}


def test_dcgm_throttle_and_ecc_fields() -> None:
    extra = (
        'DCGM_FI_DEV_CLOCKS_EVENT_REASONS{gpu="0",modelName="H100",Hostname="g"} 72\n'  # 0x48: hw slowdown, thermal
        'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{gpu="0",modelName="H100",Hostname="g"} 2\n'
        'DCGM_FI_DEV_SLOWDOWN_TEMP{gpu="0",modelName="H100",Hostname="g"} 87\n'
    )
    (gpu,) = parse_dcgm(extra)
    assert (gpu.throttle, gpu.ecc_uncorrected, gpu.temperature_limit_c) == (("hw slowdown", "thermal (hw)"), 2, 87)


def test_nvitop_gives_gpus_with_their_processes() -> None:
    kind, (first, second) = exporter_gpus(parse_series(NVITOP), "10.0.0.7")
    assert kind is HostSource.NVITOP
    assert (first.host, first.name, first.index) == ("gpunode-b", "NVIDIA H200", 0)
    assert (first.mem_used, first.mem_total) == (129412 * MIB, H200_TOTAL)
    assert (first.util_gpu, first.temperature_c, first.power_w, first.power_limit_w) == (91, 61, 512.118, 700.0)
    (server,) = first.processes
    assert (server.pid, server.is_server, server.used_bytes) == (2817, True, 128904 * MIB)
    assert server.cmdline.startswith("python3 -m vllm.entrypoints.openai.api_server")
    (job,) = second.processes
    assert (job.pid, job.name, job.is_server) == (30411, "python", False)


def test_engine_text_is_no_exporter() -> None:
    assert exporter_gpus(parse_series(VLLM), None) == (None, ())


def test_vllm_figures() -> None:
    metrics = parse_engine("http://127.0.0.1:8000/metrics", VLLM, now=100.0)
    assert metrics is not None
    assert (metrics.engine, metrics.kv_cache_usage, metrics.running, metrics.waiting) == ("vLLM", 0.4231, 3, 1)
    assert metrics.gen_tokens_per_s is None  # one scrape gives no rate, and v1 has no throughput gauge
    assert metrics.raw["vllm:request_success_total"] == 43.0  # summed over finished_reason
    assert "vllm:time_to_first_token_seconds_bucket" not in metrics.raw
    assert metrics.cache_hit_rate == pytest.approx(30144 / 48211)  # since start: one scrape
    assert metrics.preemptions == 0


def test_vllm_rates_come_from_the_counters() -> None:
    first = parse_engine("u", VLLM, now=100.0)
    later = VLLM.replace("} 15872.0", "} 16872.0").replace("} 48211.0", "} 49211.0").replace("} 30144.0", "} 30944.0")
    second = parse_engine("u", later, now=102.0, previous=(100.0, first))
    assert second.gen_tokens_per_s == 500.0
    assert second.cache_hit_rate == pytest.approx(800 / 1000)  # the last interval's queries
    idle = parse_engine("u", later, now=104.0, previous=(102.0, second))
    assert idle.cache_hit_rate == second.cache_hit_rate and idle.gen_tokens_per_s == 0.0
    restarted = VLLM.replace("} 15872.0", "} 10.0")
    assert parse_engine("u", restarted, now=102.0, previous=(100.0, first)).gen_tokens_per_s is None


def test_vllm_v0_names() -> None:
    text = (
        'vllm:gpu_cache_usage_perc{model_name="m"} 0.25\n'
        'vllm:num_requests_running{model_name="m"} 2.0\n'
        'vllm:num_requests_waiting{model_name="m"} 0.0\n'
        'vllm:avg_generation_throughput_toks_per_s{model_name="m"} 812.5\n'
        'vllm:gpu_prefix_cache_hit_rate{model_name="m"} 0.5\n'
    )
    metrics = parse_engine("u", text, now=0.0)
    assert (metrics.kv_cache_usage, metrics.running, metrics.waiting, metrics.gen_tokens_per_s) == (0.25, 2, 0, 812.5)
    assert metrics.cache_hit_rate == 0.5


def test_sglang_figures_count_each_tensor_parallel_rank_once() -> None:
    metrics = parse_engine("u", SGLANG, now=0.0)
    assert (metrics.engine, metrics.running, metrics.waiting) == ("SGLang", 4, 2)  # both TP ranks say 4 and 2
    assert (metrics.kv_cache_usage, metrics.cache_hit_rate, metrics.context_limit) == (0.27, 0.6318, 40960)
    assert metrics.gen_tokens_per_s == 412.6  # the gauge, until a second scrape gives the counter's rate
    later = SGLANG.replace("} 7.557572e+06", "} 7.558572e+06")
    assert parse_engine("u", later, now=4.0, previous=(0.0, metrics)).gen_tokens_per_s == 250.0


def test_llamacpp_figures() -> None:
    metrics = parse_engine("u", LLAMACPP, now=0.0)
    assert (metrics.engine, metrics.kv_cache_usage, metrics.running, metrics.waiting) == ("llama.cpp", 0.178711, 1, 0)
    assert metrics.gen_tokens_per_s == 97.8764
    assert metrics.raw["llamacpp:tokens_predicted_total"] == 3469


def test_llamacpp_slots_give_the_context_where_metrics_no_longer_do() -> None:
    metrics = parse_engine("u", LLAMACPP_NOW, now=0.0)
    assert metrics.kv_cache_usage is None
    assert [slot_tokens(s) for s in SLOTS] == [1937, 2410]
    with_slots = llamacpp_slots(metrics, SLOTS)
    assert (with_slots.context_used, with_slots.context_limit) == (1937, 8192)  # the working slot, not the fuller
    assert with_slots.kv_cache_usage == pytest.approx((1937 + 2410) / (2 * 8192))
    older = [{"n_ctx": 4096, "is_processing": True, "n_prompt_tokens": 100, "next_token": {"n_decoded": 20}}]
    assert llamacpp_slots(metrics, older).context_used == 120
    assert llamacpp_slots(metrics, [{"id": 0}]) is metrics
    assert props_context(PROPS) == 8192


def test_ollama_ps_lists_loaded_models_and_their_share_on_the_gpu() -> None:
    metrics = ollama_ps("http://127.0.0.1:11434/api/ps", OLLAMA_PS)
    qwen, gemma = metrics.models
    assert (qwen.name, qwen.gpu_share, qwen.context_length) == ("qwen3:8b", 1.0, 8192)
    assert gemma.size_bytes == 21407277056 and gemma.gpu_share == pytest.approx(0.7, abs=0.001)
    assert (metrics.engine, metrics.context_limit) == ("Ollama", 8192)
    assert ollama_ps("u", {"models": []}).models == ()


def test_other_text_is_no_engine() -> None:
    assert parse_engine("u", DCGM, now=0.0) is None
    assert metrics_root("http://h:8080/metrics") == "http://h:8080"
    assert metrics_root("http://h:8080/vllm/metrics/") == "http://h:8080/vllm"


@pytest.fixture
def engines() -> MetricsServer:
    """One server standing in for several engines, each under its own prefix, on their real routes."""
    with MetricsServer(
        {
            "/vllm/metrics": VLLM,
            "/vllm/v1/models": {"object": "list", "data": [{"id": "Qwen/Qwen3-8B", "max_model_len": 40960}]},
            "/sglang/metrics": SGLANG,
            "/llama/metrics": LLAMACPP_NOW,
            "/llama/slots": SLOTS,
            "/llama/props": PROPS,
            "/noslots/metrics": LLAMACPP_NOW,
            "/noslots/slots": (501, {"error": {"code": 501, "message": "This server does not support slots"}}),
            "/noslots/props": PROPS,
            "/api/ps": OLLAMA_PS,
            "/other/metrics": "up 1\n",
        }
    ) as server:
        yield server


async def test_source_reads_every_engine_on_its_routes(engines: MetricsServer) -> None:
    root, refused = engines.root, f"http://127.0.0.1:{closed_port()}/metrics"
    urls = [f"{root}/{name}/metrics" for name in ("vllm", "sglang", "llama", "noslots", "other", "missing")]
    async with httpx.AsyncClient(timeout=10.0) as client:  # the box is shared: no timeouts in a test of routes
        source = PrometheusSource([*urls, f"{root}/api/ps", refused], client)
        reading = await source.fetch()
        await source.fetch()
    got = {e.url.removeprefix(root): e for e in reading.engines}
    assert (got["/vllm/metrics"].kv_cache_usage, got["/vllm/metrics"].context_limit) == (0.4231, 40960)
    assert (got["/sglang/metrics"].running, got["/sglang/metrics"].context_limit) == (4, 40960)
    llama = got["/llama/metrics"]
    assert (llama.context_used, llama.context_limit) == (1937, 8192) and llama.kv_cache_usage is not None
    assert (got["/noslots/metrics"].context_used, got["/noslots/metrics"].context_limit) == (None, 8192)
    assert [m.name for m in got["/api/ps"].models] == ["qwen3:8b", "gemma3:27b"], got["/api/ps"]
    assert got["/other/metrics"].error.startswith("no vLLM, SGLang, llama.cpp or GPU exporter metrics")
    assert got["/missing/metrics"].error == "HTTP 404"
    assert got[refused].error == "Connection refused"
    assert reading.gpus == () and reading.hosts == ()
    # asked once each: the context windows (/props, /v1/models), and /slots of a server without them
    assert [engines.requests.count(p) for p in ("/llama/props", "/vllm/v1/models", "/noslots/slots")] == [0, 1, 1]
    assert engines.requests.count("/llama/slots") == 2 and engines.requests.count("/noslots/props") == 1


async def test_a_fleet_of_two_exporters_is_two_hosts_and_a_lost_one_says_so() -> None:
    with MetricsServer({"/metrics": DCGM}) as dcgm, MetricsServer({"/metrics": NVITOP}) as nvitop:
        client = httpx.AsyncClient(timeout=10.0)
        source = PrometheusSource([f"{dcgm.root}/metrics", f"{nvitop.root}/metrics"], client, clock=lambda: 500.0)
        reading = await source.fetch()
        hosts = {h.name: h for h in reading.hosts}
        assert [(g.host, g.index) for g in reading.gpus] == [
            ("gpubox", 0),
            ("gpubox", 1),
            ("gpunode-b", 0),
            ("gpunode-b", 1),
        ]
        assert (hosts["gpubox"].source, hosts["gpubox"].gpus, hosts["gpubox"].reachable) == (HostSource.DCGM, 2, True)
        assert (hosts["gpunode-b"].source, hosts["gpunode-b"].last_seen) == (HostSource.NVITOP, 500.0)
        assert reading.engines == ()
        nvitop.stop()
        lost = await source.fetch()
        nvitop.start()
        back = await source.fetch()
        await client.aclose()
    (gone,) = [h for h in lost.hosts if not h.reachable]
    assert (gone.name, gone.error, gone.last_seen) == ("gpunode-b", "Connection refused", 500.0)
    assert {g.host for g in lost.gpus} == {"gpubox"} and lost.engines == ()
    assert all(h.reachable for h in back.hosts) and len(back.gpus) == 4


async def test_an_exporter_down_from_the_start_is_an_unreachable_host_by_its_port() -> None:
    source = PrometheusSource(["http://127.0.0.1:9400/metrics"])
    reading = await source.fetch()
    await source.aclose()
    if reading.hosts and reading.hosts[0].reachable:
        pytest.skip("something answers on 127.0.0.1:9400")
    (host,) = reading.hosts
    assert (host.name, host.source, host.last_seen, reading.engines) == ("127.0.0.1", HostSource.DCGM, None, ())


async def test_source_rate_over_two_scrapes(engines: MetricsServer) -> None:
    times = iter([10.0, 10.5])
    source = PrometheusSource([f"{engines.root}/vllm/metrics"], clock=lambda: next(times))
    await source.fetch()
    engines.pages["/vllm/metrics"] = VLLM.replace("} 15872.0", "} 15972.0")
    (metrics,) = (await source.fetch()).engines
    await source.aclose()
    assert metrics.gen_tokens_per_s == 200.0


async def test_a_client_handed_in_stays_the_callers(engines: MetricsServer) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        source = PrometheusSource([f"{engines.root}/sglang/metrics"], client)
        assert (await source.fetch()).engines[0].running == 4
        await source.aclose()
        assert not client.is_closed
    own = PrometheusSource([f"{engines.root}/sglang/metrics"])
    await own.fetch()
    made = own._client
    await own.aclose()
    assert made.is_closed


def test_gib_constant_is_what_the_fixtures_use() -> None:
    assert GIB == 1024 * MIB
