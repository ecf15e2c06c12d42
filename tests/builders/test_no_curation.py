"""Humpback without self-curation (`iterations: 0`), the paper's no-curation point of its
quality-vs-quantity comparison: every backtranslated pair is kept, no M0 is trained or asked, a
2-shard build ends with the unsharded build's records, and the curated dataset built from the same
backtranslations is a subset of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.io import read_jsonl
from harness.core.records import provenance_of

EXPERIMENT = """\
name: nocuration
base_model: tiny:tiny
seed: 0
backend: hf
seed_data: {source: bundled:demo, n: 16}
corpus: {source: stdlib, min_chars: 200, max_chars: 600, max_documents: 10}
datasets:
  all_pairs:
    builder: humpback
    options: {iterations: 0, instruction_max_tokens: 16, temperature: 0}
  curated:
    builder: humpback
    options: {score_mode: logprobs, logprobs_k: 2048, threshold: 2.5, iterations: 1,
              instruction_max_tokens: 16, score_max_tokens: 2, temperature: 0}
train: {recipe: tiny, max_steps: 2, per_device_batch_size: 4, max_length: 256}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {enabled: false, reference: null}
decoding: {max_tokens: 16, seed: 0}
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory):
    from harness.experiment import load_experiment

    root = tmp_path_factory.mktemp("nocuration")
    path = root / "nocuration.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    return load_experiment(str(path)), root


def _instructions(directory: Path) -> list[str]:
    return [r["messages"][0]["content"] for r in read_jsonl(directory / "dataset.jsonl")]


def test_no_curation_keeps_every_backtranslated_pair_and_trains_no_judge(experiment):
    from harness.stages import build

    exp, root = experiment
    runs = root / "runs"
    outcomes = {o.directory.name: o for o in build.run(exp, runs)}
    steps = outcomes["all_pairs"].manifest.stats.steps
    assert list(steps) == ["corpus", "backtranslate", "final_dedup"]  # no curate step at all
    kept = steps["backtranslate"]["kept"]
    assert kept > 0 and steps["final_dedup"]["seen"] == kept
    assert outcomes["all_pairs"].manifest.stats.records == steps["final_dedup"]["kept"]
    records = read_jsonl(outcomes["all_pairs"].directory / "dataset.jsonl")
    assert all(provenance_of(r["provenance"]).get("curation") == "none" for r in records)
    # only the backward model was trained for it; the curated dataset also needed M0
    subs = outcomes["all_pairs"].manifest.stats.substages
    assert "seed_model" not in subs and "backward" in subs
    assert "seed_model" in outcomes["curated"].manifest.stats.substages
    # the same greedy backtranslations, curated: a strict subset of the uncurated set
    curated = _instructions(outcomes["curated"].directory)
    assert set(curated) < set(_instructions(outcomes["all_pairs"].directory))

    # two shards, then the merge: the unsharded build's records
    sharded = root / "sharded"
    for i in range(2):
        build.run(exp, sharded, only=["all_pairs"], num_shards=2, shard_index=i)
    (merged,) = build.run(exp, sharded, only=["all_pairs"], num_shards=2, merge=True)
    assert read_jsonl(merged.directory / "dataset.jsonl") == records


def test_no_curation_needs_no_judge_in_the_capacity_plan(experiment):
    from harness.stages.capacity import build_loads

    exp, _ = experiment
    uncurated = [load.role for load in build_loads(exp, "all_pairs")[0]]
    curated = [load.role for load in build_loads(exp, "curated")[0]]
    assert uncurated and not any("judge" in r for r in uncurated), uncurated
    assert any("judge" in r for r in curated), curated  # the same plan with curation has M0
