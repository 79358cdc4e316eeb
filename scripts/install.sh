#!/usr/bin/env bash
# Install socium with the embedded defaults into .venv (idempotent).
# llama-cpp-python compiles from source: GGML_NATIVE=OFF because the native build
# crashes on CPUs that report AMX but cannot use it. A wheel cached from a build
# without the flag is removed and rebuilt when the smoke test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export CMAKE_ARGS="-DGGML_NATIVE=OFF"
export HF_HUB_OFFLINE=1
PY="${PYTHON:-python3}"
EXTRAS="${1:-local}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Prefer the CPU build of torch (a wheel of it lies on machines of this kind); without
# it, sentence-transformers pulls the default (CUDA) build, several GB.
.venv/bin/pip install -q "torch==2.13.0" 2>/dev/null || echo "note: torch 2.13.0 CPU wheel not found; pip picks torch itself"
.venv/bin/pip install -q -e ".[$EXTRAS]"

smoke() {
  .venv/bin/python - <<'PY'
from llama_cpp import Llama
from engine.models.local import default_model_path
llm = Llama(model_path=str(default_model_path()), n_ctx=256, verbose=False)
out = llm.create_completion("Hello", max_tokens=2)
assert out["choices"][0]["text"] is not None
print("llama.cpp smoke test: ok")
PY
}
if ! smoke; then
  echo "llama.cpp smoke test failed; rebuilding llama-cpp-python with $CMAKE_ARGS" >&2
  .venv/bin/pip cache remove llama_cpp_python || true
  .venv/bin/pip install -q --no-cache-dir --force-reinstall --no-deps "llama-cpp-python[server]>=0.3.20,<0.4"
  smoke
fi

# The report test renders report.html in headless Chromium (Debian's package).
if [[ "$EXTRAS" == *dev* ]] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium not installed (needs root and apt-get); the report test will be skipped"
  fi
fi
