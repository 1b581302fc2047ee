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
# The extras installed: voice only where its Debian packages are (evaluated in the recipe, after voice-deps.sh).
EXTRAS = embedded,dev$$(test -e /usr/include/portaudio.h && echo ,voice)
CONSTRAINTS := constraints.txt

.PHONY: run test lint format bench llamafactory browser constraints clean

run: $(STAMP)
	$(BIN)/vt-tui $(ARGS)

test: $(STAMP) llamafactory browser
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

# Debian's Chromium for the browser test of `vt-tui web` (a package: nothing is downloaded when the tests run).
browser:
	bash scripts/browser-deps.sh

# Voice needs Debian packages (PortAudio headers, espeak-ng): installed here when we may, else voice is left out.
# Versions come from $(CONSTRAINTS), so a fresh machine installs what the suite last passed on.
$(STAMP): setup.cfg pyproject.toml scripts/voice-deps.sh scripts/debian-packages.sh $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	bash scripts/voice-deps.sh
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null || echo ">>> Building llama-cpp-python from source: about 12 minutes on a 2-core machine the first time, then cached by pip."
	$(BIN)/python -m pip install --progress-bar on -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Refresh $(CONSTRAINTS): a fresh venv gets the newest versions setup.cfg's ranges allow, its freeze (less vt-tui)
# becomes the file, and the suite runs on an install from it. Commit the file only if the tests pass.
constraints:
	rm -rf $(VENV)-constraints
	$(PYTHON) -m venv $(VENV)-constraints
	$(VENV)-constraints/bin/python -m pip install --upgrade pip
	bash scripts/voice-deps.sh
	$(VENV)-constraints/bin/python -m pip install -e ".[$(EXTRAS)]"
	{ grep '^#' $(CONSTRAINTS); $(VENV)-constraints/bin/python -m pip freeze --exclude-editable | grep -iv '^vt-tui'; } \
		> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(VENV)-constraints
	$(MAKE) test

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
