"""Alerts: which conditions count, and the debounce that makes each episode one alert."""

from __future__ import annotations

from dataclasses import replace

from vt_tui.gpu.alerts import AlertState, conditions
from vt_tui.gpu.models import GIB, AlertKind, GpuSample, HostSource, HostStatus, Snapshot


def gpu(**kw: object) -> GpuSample:
    base = GpuSample(0, "H200", None, 10 * GIB, 100 * GIB, 50, 10, 60, 300.0, 700.0, 1980, temperature_limit_c=87)
    return replace(base, **kw)


def kinds(snapshot: Snapshot) -> set[AlertKind]:
    return {kind for kind, _, _ in conditions(snapshot)}


def test_each_condition_and_its_message() -> None:
    assert kinds(Snapshot(0.0, (gpu(),))) == set()
    full = conditions(Snapshot(0.0, (gpu(mem_used=96 * GIB),)))
    assert full == {(AlertKind.VRAM, None, 0): "GPU 0 VRAM 96% full (96.0/100.0 GiB)"}
    assert kinds(Snapshot(0.0, (gpu(mem_used=94 * GIB),))) == set()
    assert kinds(Snapshot(0.0, (gpu(temperature_c=87),))) == {AlertKind.TEMPERATURE}
    assert kinds(Snapshot(0.0, (gpu(temperature_limit_c=None, throttle=("thermal (hw)",)),))) == {AlertKind.TEMPERATURE}
    assert kinds(Snapshot(0.0, (gpu(power_w=690.0),))) == {AlertKind.POWER}  # 98.6 % of 700 W
    assert kinds(Snapshot(0.0, (gpu(power_limit_w=None, throttle=("power cap",)),))) == {AlertKind.POWER}
    assert kinds(Snapshot(0.0, (gpu(throttle=("hw slowdown",)),))) == {AlertKind.THROTTLE}
    assert conditions(Snapshot(0.0, (gpu(ecc_uncorrected=3, host="b"),)))[AlertKind.ECC, "b", 0] == (
        "GPU 0 @b: 3 uncorrected ECC errors"
    )


def test_a_lost_remote_host_counts_but_this_machine_without_a_driver_does_not() -> None:
    hosts = (
        HostStatus("here", HostSource.NVML, error="No NVIDIA driver found (NVML library missing)"),
        HostStatus("gpubox", HostSource.DCGM, "http://gpubox:9400/metrics", "Connection refused", 88.0),
        HostStatus("never", HostSource.DCGM, "http://never:9400/metrics", "timed out"),
    )
    found = conditions(Snapshot(100.0, hosts=hosts))
    assert found == {
        (AlertKind.HOST, "gpubox", None): "gpubox unreachable: Connection refused (last seen 12 s ago)",
        (AlertKind.HOST, "never", None): "never unreachable: timed out (never reached)",
    }


def test_an_alert_starts_after_the_hold_and_ends_after_the_clear_time() -> None:
    state = AlertState(hold_s=3.0, clear_s=10.0)
    hot, cool = Snapshot(0.0, (gpu(mem_used=99 * GIB),)), Snapshot(0.0, (gpu(),))
    timeline = [(0, hot), (2, hot), (3, hot), (4, cool), (8, hot), (13.5, cool), (14, cool), (17.5, cool)]
    active = [bool(state.update(replace(s, time=float(t)))) for t, s in timeline]
    # raised at 3 s; a dip at 4 s and a return at 8 s keep the same alert; gone 10 s after the last sighting (8 s)
    assert active == [False, False, True, True, True, True, True, True]
    assert state.update(replace(cool, time=18.0 + 0.1)) == ()  # 10.1 s after 8 s
    (alert,) = AlertState(hold_s=0.0).update(hot)
    assert (alert.kind, alert.gpu, alert.since) == (AlertKind.VRAM, 0, 0.0)


def test_a_blip_shorter_than_the_hold_never_becomes_an_alert() -> None:
    state = AlertState(hold_s=3.0, clear_s=10.0)
    seen = []
    for t in range(12):
        full = t % 3 != 2  # 2 s of a full GPU, then a break, over and over
        seen.append(state.update(Snapshot(float(t), (gpu(mem_used=(99 if full else 10) * GIB),))))
    assert not any(seen)


def test_a_gpu_s_alert_stands_while_its_host_is_lost_and_is_not_raised_again_when_it_is_back() -> None:
    """8 GPUs at their power limit on a host whose exporter drops out for 30 s: one alert for the host, and the
    GPUs' alerts neither end (unknown is not gone) nor start again (which would tell eight of them once more)."""
    state = AlertState(hold_s=3.0, clear_s=10.0)
    up = HostStatus("b", HostSource.DCGM, "http://b:9400/metrics", None, 0.0, 8)
    busy = tuple(gpu(index=i, host="b", power_w=695.0) for i in range(8))
    seen = [state.update(Snapshot(float(t), busy, hosts=(replace(up, last_seen=float(t)),))) for t in range(5)]
    at_limit = {a.key: a.since for a in seen[-1]}
    assert len(at_limit) == 8
    lost = replace(up, error="Connection refused", last_seen=4.0)
    for t in range(5, 35):
        during = state.update(Snapshot(float(t), hosts=(lost,)))
        assert {a.key: a.since for a in during if a.kind is AlertKind.POWER} == at_limit
    assert [a.key for a in during if a.kind is AlertKind.HOST] == [(AlertKind.HOST, "b", None)]
    back = state.update(Snapshot(35.0, busy, hosts=(replace(up, last_seen=35.0),)))
    assert {a.key: a.since for a in back if a.kind is AlertKind.POWER} == at_limit  # the same episodes
    quiet = tuple(gpu(index=i, host="b") for i in range(8))
    later = state.update(Snapshot(50.0, quiet, hosts=(replace(up, last_seen=50.0),)))
    assert [a for a in later if a.kind is AlertKind.POWER] == []  # back and cool: they end as usual
