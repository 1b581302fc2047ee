"""One real LLaMA-Factory API server for the whole e2e session (it takes ~10 s to start)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.llamafactory import E2E_API_KEY, default_cache_dir, llamafactory_available, run_llamafactory

# Read at import: the autouse xdg_home fixture in tests/conftest.py clears VT_TUI_* variables (VT_TUI_CI_CACHE).
CACHE_DIR = default_cache_dir()


@pytest.fixture(scope="session")
def llamafactory_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cache_dir = llamafactory_available(CACHE_DIR)
    if cache_dir is None:
        pytest.skip(f"LLaMA-Factory server not built in {CACHE_DIR}: run scripts/llamafactory/setup.sh (make does)")
    log = tmp_path_factory.mktemp("llamafactory") / "api.log"
    started = time.monotonic()
    with run_llamafactory(E2E_API_KEY, cache_dir, log_path=log) as url:
        print(
            f"\n[llamafactory] {url} ready in {time.monotonic() - started:.1f} s (start to /v1/models 200); log {log}"
        )
        yield url
