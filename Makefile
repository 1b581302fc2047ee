# vt-tui — `make run` sets everything up and starts the app on the embedded model; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama-cpp-python builds llama.cpp from source (~12 min on 2 cores, then pip caches the wheel). A portable
# AVX2 build: -march=native builds crashed (general protection fault) on CPUs whose AMX/AVX-512 a VM hides.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format bench llamafactory clean

run: $(STAMP)
	$(BIN)/vt-tui $(ARGS)

test: $(STAMP) llamafactory
	$(BIN)/ruff check vt_tui tools tests bench scripts
	$(BIN)/python -m pytest -rs $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check vt_tui tools tests bench scripts
	$(BIN)/ruff format --check vt_tui tools tests bench scripts

format: $(STAMP)
	$(BIN)/ruff format vt_tui tools tests bench scripts
	$(BIN)/ruff check --fix vt_tui tools tests bench scripts

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The real LLaMA-Factory API server on CPU for the e2e tests, built once per machine outside the checkout.
llamafactory:
	bash scripts/llamafactory/setup.sh

# Voice needs Debian packages (PortAudio headers, espeak-ng): installed here when we may, else voice is left out.
$(STAMP): setup.cfg pyproject.toml scripts/voice-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	bash scripts/voice-deps.sh
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null || echo ">>> Building llama-cpp-python from source: about 12 minutes on a 2-core machine the first time, then cached by pip."
	extras=embedded,dev; test -e /usr/include/portaudio.h && extras=$$extras,voice; \
	$(BIN)/python -m pip install --progress-bar on -e ".[$$extras]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
