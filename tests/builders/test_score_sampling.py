"""`score_sampling`: curation replies sampled at the builder's temperature and top-p (the back-and-forth
paper samples all data generation) instead of greedy, on the real tiny model and the real build stage;
the option stays out of the fingerprint at its default, so builds from before it keep theirs."""

from __future__ import annotations

import json
from pathlib import Path

from harness.stages.builders import builder_fingerprint_parts

EXPERIMENT = """\
name: scoresample
base_model: tiny:tiny
seed: 0
backend: hf
seed_data: {source: bundled:demo, n: 24}
corpus: {source: stdlib, min_chars: 200, max_chars: 600, max_documents: 6}
datasets:
  greedy:
    builder: back_and_forth
    options: {variant: filtering, threshold: 1.0, instruction_max_tokens: 16, score_max_tokens: 8}
  sampled:
    builder: back_and_forth
    options: {variant: filtering, threshold: 1.0, instruction_max_tokens: 16, score_max_tokens: 8,
              score_sampling: true}
train: {recipe: tiny, max_steps: 2, per_device_batch_size: 4, max_length: 384}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {enabled: false, reference: null}
decoding: {max_tokens: 16, seed: 0}
"""


def _judge_texts(build_dir: Path) -> dict[str, str]:
    """Each curated candidate's judge reply, kept (dataset.jsonl provenance) or dropped (drops.jsonl)."""
    out = {}
    for line in (build_dir / "drops.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        if d["step"] == "curate" and "judge_text" in d:
            out[d["id"]] = d["judge_text"]
    for line in (build_dir / "dataset.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        out[r["id"]] = r["provenance"]["judge_text"]
    return out


def test_sampled_scoring_differs_from_greedy_on_the_same_candidates(tmp_path: Path):
    from harness.experiment import load_experiment
    from harness.stages import build

    path = tmp_path / "e.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    exp = load_experiment(str(path))
    build.run(exp, tmp_path / "runs")
    root = tmp_path / "runs" / "scoresample" / "build"
    greedy, sampled = _judge_texts(root / "greedy"), _judge_texts(root / "sampled")
    assert greedy and set(greedy) == set(sampled)  # the same candidates (one backward model, one corpus)
    differ = [k for k in greedy if greedy[k] != sampled[k]]
    assert len(differ) >= len(greedy) // 2, (greedy, sampled)


def test_score_sampling_enters_the_fingerprint_only_when_set():
    default = builder_fingerprint_parts("back_and_forth", {})["options"]
    assert "score_sampling" not in default  # builds from before the option keep their fingerprints
    assert (
        builder_fingerprint_parts("back_and_forth", {"score_sampling": True})["options"]["score_sampling"]
        is True
    )
    assert builder_fingerprint_parts("back_and_forth", {"score_sampling": False})["options"] == default


def test_score_sampling_with_logprob_scoring_is_refused_on_load():
    import pytest

    from harness.core.errors import ConfigError
    from harness.experiment import load_experiment

    with pytest.raises(ConfigError, match="score_mode logprobs reads the rating"):
        load_experiment("paper-7b", ["datasets.back_and_forth.options.score_mode=logprobs"])
