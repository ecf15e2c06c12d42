"""One small experiment built once for all builder tests: the tiny model, 12 stdlib documents,
a 4-step training recipe, every builder plus two baselines, with the robust parsing options
(tiny random models do not follow output formats) and one strict-parsing dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

EXPERIMENT = """\
# harness build --config THIS_FILE
name: buildtest
base_model: tiny:tiny
seed: 0
backend: hf
seed_data: {source: bundled:demo, n: 24}
corpus: {source: stdlib, min_chars: 200, max_chars: 600, max_documents: 12}
datasets:
  back_and_forth:
    builder: back_and_forth
    options: {score_mode: logprobs, logprobs_k: 2048, threshold: 2.5, missing_res: keep_output,
              instruction_max_tokens: 24, score_max_tokens: 2, rewrite_max_tokens: 32}
  strict:
    builder: back_and_forth
    options: {variant: filtering, instruction_max_tokens: 24, score_max_tokens: 12}
  humpback:
    builder: humpback
    options: {score_mode: logprobs, logprobs_k: 2048, threshold: 2.5, iterations: 2,
              instruction_max_tokens: 24, score_max_tokens: 2}
  distillation:
    builder: distillation
    options: {score_mode: logprobs, logprobs_k: 2048, threshold: 2.5, instruction_max_tokens: 24,
              score_max_tokens: 2, answer_max_tokens: 32}
  distill_pool:
    builder: distillation
    options: {instructions_from: POOL, answer_max_tokens: 16}
  alpaca_gpt4: {builder: baseline, options: {loader: alpaca_gpt4, n: 20}}
  sharegpt: {builder: baseline, options: {loader: sharegpt}}
train: {recipe: tiny, max_steps: 4, per_device_batch_size: 4, max_length: 384}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {enabled: false, reference: null}
decoding: {max_tokens: 32, seed: 0}
"""


@pytest.fixture(scope="session")
def build_experiment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(experiment file, runs dir)."""
    root = tmp_path_factory.mktemp("buildtest")
    pool = root / "pool.jsonl"
    pool.write_text(
        '{"instruction": "Name a prime number."}\n{"messages": [{"role": "user", "content": '
        '"What is a list?"}]}\n{"instruction": ""}\n{"other": 1}\n',
        encoding="utf-8",
    )
    path = root / "buildtest.yaml"
    path.write_text(EXPERIMENT.replace("POOL", str(pool)), encoding="utf-8")
    return path, root / "runs"


@pytest.fixture(scope="session")
def built(build_experiment):
    """The experiment built once: (experiment, runs dir, {name: StageOutcome})."""
    from harness.experiment import load_experiment
    from harness.stages import build

    path, runs = build_experiment
    exp = load_experiment(str(path))
    outcomes = build.run(exp, runs)
    return exp, runs, {o.directory.name: o for o in outcomes}
