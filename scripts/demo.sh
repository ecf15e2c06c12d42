#!/usr/bin/env bash
# The bundled CPU demo experiment (harness/configs/demo.yaml): a tiny random Llama, the bundled seed
# and eval sets, the stdlib-docstring corpus; builds back_and_forth, humpback, distillation and two
# baselines, trains the tiny model on each, judges them locally, analyses the data and writes the
# leaderboard to runs/results/demo/. A rerun is served from runs/demo/ and takes seconds.
# The committed results/demo/ (the baseline CI checks against) is rewritten only on purpose, by
# `make demo-results` (scripts/demo_results.py: the baseline and its measured noise.json).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/harness run --config demo --results-dir runs/results "$@"
