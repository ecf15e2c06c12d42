#!/usr/bin/env bash
# The bundled CPU demo (for now): make a tiny model, then answer the same prompts through each
# backend: hf (transformers), vllm (offline engine) and openai (against a `vllm serve` of the
# tiny model on 127.0.0.1). Outputs go to runs/demo/. Rerunning is served from the request cache.
set -euo pipefail
cd "$(dirname "$0")/.."
H=.venv/bin/harness
OUT=${HARNESS_RUNS_DIR:-runs}/demo
mkdir -p "$OUT"
[ -f "$OUT/tiny-model/model.safetensors" ] || $H tiny-model "$OUT/tiny-model"
.venv/bin/python -c "
import json, sys
from harness.backends.tiny_model import sample_prompts
sys.stdout.write(''.join(json.dumps(p) + '\n' for p in sample_prompts(32)))" > "$OUT/prompts.jsonl"
common=(--input "$OUT/prompts.jsonl" --temperature 0.7 --top-p 0.9 --seed 0 --max-tokens 48 --logprobs 3)

$H generate --model "hf:$OUT/tiny-model" --output "$OUT/hf.jsonl" "${common[@]}"
$H generate --model "vllm:$OUT/tiny-model" --dtype float32 --output "$OUT/vllm.jsonl" "${common[@]}"

port=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
VLLM_CPU_KVCACHE_SPACE=1 .venv/bin/python -m vllm.entrypoints.openai.api_server --model "$OUT/tiny-model" \
  --served-model-name tiny --host 127.0.0.1 --port "$port" --dtype float32 --max-model-len 1024 \
  > "$OUT/vllm_serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "vllm serve died; see $OUT/vllm_serve.log" >&2; exit 1; }
  sleep 2
done
$H generate --model "openai:tiny@http://127.0.0.1:$port/v1" --output "$OUT/openai.jsonl" "${common[@]}"
echo "demo: outputs in $OUT/{hf,vllm,openai}.jsonl"
