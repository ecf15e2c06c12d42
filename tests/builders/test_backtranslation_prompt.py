"""`backtranslation_input: prompt`: the backward model reads each response inside the backtranslation
prompt (harness/prompts/backtranslation.txt), in its training pairs and at use, instead of the raw
text as the user turn; on the real tiny model and the real build stage. At its default ("raw") the
option and the prompt stay out of the fingerprint, so builds from before it keep theirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets_builders.prompts import load_prompt
from harness.stages.builders import builder_fingerprint_parts

EXPERIMENT = """\
name: btprompt
base_model: tiny:tiny
seed: 0
backend: hf
seed_data: {source: bundled:demo, n: 16}
corpus: {source: stdlib, min_chars: 200, max_chars: 600, max_documents: 4}
datasets:
  raw:
    builder: back_and_forth
    options: {variant: rewriting, missing_res: keep_output, instruction_max_tokens: 8, rewrite_max_tokens: 8}
  wrapped:
    builder: back_and_forth
    options: {variant: rewriting, missing_res: keep_output, instruction_max_tokens: 8, rewrite_max_tokens: 8,
              backtranslation_input: prompt}
train: {recipe: tiny, max_steps: 2, per_device_batch_size: 4, max_length: 384}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {enabled: false, reference: null}
decoding: {max_tokens: 16, seed: 0}
"""


def test_the_backward_model_reads_the_prompt_in_training_and_at_use(tmp_path: Path):
    from harness.experiment import load_experiment
    from harness.stages import build

    path = tmp_path / "e.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    exp = load_experiment(str(path))
    build.run(exp, tmp_path / "runs")
    root = tmp_path / "runs" / "btprompt" / "build"
    backward = sorted((root / "_shared").glob("backward-*"))
    assert len(backward) == 2  # two backward models: one per input structure
    users = {
        d.name: [
            json.loads(x)["messages"][0]["content"]
            for x in (d / "train.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        for d in backward
    }
    head, tail = load_prompt("backtranslation").split("{response}")
    wrapped = [u for u in users.values() if all(t.startswith(head) for t in u)]
    raw = [u for u in users.values() if not any(t.startswith(head) for t in u)]
    assert len(wrapped) == 1 and len(raw) == 1
    assert sorted(t[len(head) : len(t) - len(tail)] for t in wrapped[0]) == sorted(
        raw[0]
    )  # the same seed responses inside it
    manifests = {
        n: json.loads((root / n / "manifest.json").read_text(encoding="utf-8")) for n in ("raw", "wrapped")
    }
    assert "backtranslation" in manifests["wrapped"]["config"]["prompts"]
    assert "backtranslation" not in manifests["raw"]["config"]["prompts"]
    rows = {
        n: [json.loads(x) for x in (root / n / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
        for n in ("raw", "wrapped")
    }
    assert rows["raw"] and rows["wrapped"]
    # the same documents, asked of different backward models in different words: other instructions
    by_doc = {
        n: {
            r["provenance"]["document_id"]: r["provenance"]["instruction"]
            for r in (
                dict(
                    x,
                    provenance=json.loads(x["provenance"])
                    if isinstance(x["provenance"], str)
                    else x["provenance"],
                )
                for x in rows[n]
            )
        }
        for n in rows
    }
    common = set(by_doc["raw"]) & set(by_doc["wrapped"])
    assert common and any(by_doc["raw"][d] != by_doc["wrapped"][d] for d in common)


def test_the_option_enters_the_fingerprint_only_when_set():
    default = builder_fingerprint_parts("humpback", {})
    assert "backtranslation_input" not in default["options"] and "backtranslation" not in default["prompts"]
    assert builder_fingerprint_parts("humpback", {"backtranslation_input": "raw"}) == default
    wrapped = builder_fingerprint_parts("humpback", {"backtranslation_input": "prompt"})
    assert wrapped["options"]["backtranslation_input"] == "prompt" and "backtranslation" in wrapped["prompts"]


def test_a_replacement_prompt_must_keep_the_placeholder(tmp_path: Path):
    from harness.core.errors import ConfigError
    from harness.experiment import load_experiment

    bad = tmp_path / "bt.txt"
    bad.write_text("Write the instruction for: {text}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="placeholders"):
        load_experiment("demo", [f"prompts.backtranslation={bad}"])
