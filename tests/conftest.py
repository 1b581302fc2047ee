"""Shared fixtures and guards: an isolated XDG home for every test, the scripted loopback server, no network past
loopback (tests/support/netguard), and, with ``CI=true``, no silent skip of a part the set-up installs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer

NETGUARD_DIR = Path(__file__).parent / "support" / "netguard"
sys.path.insert(0, str(NETGUARD_DIR))
import vt_netguard  # noqa: E402 — from its own folder, as the sitecustomize of child processes imports it

vt_netguard.install(to_file=False)
# Child processes (vt-tui, servers) install it at start-up through the sitecustomize.py beside it.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD_DIR), os.environ.get("PYTHONPATH")) if p)
os.environ["HF_HUB_OFFLINE"] = "1"  # model hubs: never asked

# Skips that, with CI=true, fail the run: parts that `make test` installs (a missing one is a broken set-up, not
# a machine without a microphone or a GPU). Matched against the skip reason.
REQUIRED_IN_CI = (
    "voice extra",
    "needs espeak-ng",
    "needs sox",
    "LLaMA-Factory server not built",
    "llama-cpp-python is not installed",
    "embedded engine is not installed",
    "needs Debian's chromium",
)


def _required_part_missing(report: pytest.CollectReport | pytest.TestReport) -> bool:
    if os.environ.get("CI", "").lower() != "true" or not report.skipped:
        return False
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
    return any(part in reason for part in REQUIRED_IN_CI)


def _fail_instead(report: pytest.CollectReport | pytest.TestReport) -> None:
    reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
    report.outcome = "failed"
    report.longrepr = f"CI=true: a required part is missing, so this fails instead of skipping: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    report = yield
    if _required_part_missing(report):
        _fail_instead(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if _required_part_missing(report):
        _fail_instead(report)
    return report


@pytest.fixture(scope="session")
def netguard_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where child processes record blocked attempts (``$NETGUARD_LOG``)."""
    log = tmp_path_factory.mktemp("netguard") / "blocked.log"
    log.touch()
    os.environ[vt_netguard.LOG_ENV] = str(log)
    return log


@pytest.fixture(autouse=True)
def no_network_past_loopback(netguard_log: Path) -> Iterator[list[str]]:
    """Fails the test if it (or a process it started) tried to reach past loopback, even if the code under test
    swallowed the error. A test that provokes attempts on purpose takes them out of the yielded list."""
    vt_netguard.violations.clear()
    seen = netguard_log.stat().st_size
    yield vt_netguard.violations
    with netguard_log.open(encoding="utf-8") as log:
        log.seek(seen)
        in_children = log.read().splitlines()
    blocked = [*vt_netguard.violations, *in_children]
    vt_netguard.violations.clear()
    if blocked:
        pytest.fail("\n".join(blocked), pytrace=False)


@pytest.fixture(autouse=True)
def xdg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every XDG dir into the test's tmp dir and clear endpoint variables: tests never touch ~."""
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(tmp_path / name.lower()))
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("VT_TUI_")]:
        monkeypatch.delenv(var)
    return tmp_path


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server
