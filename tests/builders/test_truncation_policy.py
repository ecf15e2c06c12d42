"""`truncated`: one policy for rewrites and distilled answers cut by the generation cap, on the real tiny
model and the real build stage (a cap of a few tokens cuts nearly every output). Cut outputs are
counted on each step (`truncated_outputs`); under "drop" they are drops with the reason `truncated`;
under "keep" a cut rewrite keeps what follows [RES]. At its default ("by_content": the behaviour from
before the option) it stays out of the fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

from harness.stages.builders import builder_fingerprint_parts

REWRITE = "{variant: rewriting, instruction_max_tokens: 8, rewrite_max_tokens: 6, missing_res: drop"
ANSWER = "{instruction_max_tokens: 8, answer_max_tokens: 6, filter: false"
EXPERIMENT = f"""\
name: truncation
base_model: tiny:tiny
seed: 0
backend: hf
seed_data: {{source: bundled:demo, n: 16}}
corpus: {{source: stdlib, min_chars: 200, max_chars: 600, max_documents: 8}}
datasets:
  rw_default: {{builder: back_and_forth, options: {REWRITE}}}}}
  rw_drop: {{builder: back_and_forth, options: {REWRITE}, truncated: drop}}}}
  rw_keep: {{builder: back_and_forth, options: {REWRITE}, truncated: keep}}}}
  ans_default: {{builder: distillation, options: {ANSWER}}}}}
  ans_drop: {{builder: distillation, options: {ANSWER}, truncated: drop}}}}
train: {{recipe: tiny, max_steps: 2, per_device_batch_size: 4, max_length: 384}}
eval: {{eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}}
analysis: {{enabled: false, reference: null}}
decoding: {{max_tokens: 16, seed: 0}}
"""


def _step(root: Path, name: str, step: str) -> dict:
    return json.loads((root / name / "manifest.json").read_text(encoding="utf-8"))["stats"]["steps"][step]


def _rows(root: Path, name: str) -> int:
    return len((root / name / "dataset.jsonl").read_text(encoding="utf-8").splitlines())


def test_one_policy_for_cut_rewrites_and_answers(tmp_path: Path):
    from harness.experiment import load_experiment
    from harness.stages import build

    path = tmp_path / "e.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    build.run(load_experiment(str(path)), tmp_path / "runs")
    root = tmp_path / "runs" / "truncation" / "build"
    rw = {k: _step(root, f"rw_{k}", "rewrite") for k in ("default", "drop", "keep")}
    ans = {k: _step(root, f"ans_{k}", "answer") for k in ("default", "drop")}
    print(
        {f"rw_{k}": (v["kept"], v["dropped"], v["truncated_outputs"]) for k, v in rw.items()},
        {f"ans_{k}": (v["kept"], v["dropped"], v["truncated_outputs"]) for k, v in ans.items()},
    )
    cut = rw["default"]["truncated_outputs"]
    assert cut >= rw["default"]["seen"] // 2  # a 6-token cap cuts most rewrites
    assert all(v["truncated_outputs"] == cut for v in rw.values())  # the same generations (request cache)
    # drop: every cut rewrite is a `truncated` drop, before the parse sees it
    assert rw["drop"]["dropped"].get("truncated") == cut
    assert rw["drop"]["kept"] == rw["drop"]["seen"] - sum(rw["drop"]["dropped"].values())
    # keep / by_content: the parse decides (the random model writes no [RES]: missing_res drops them;
    # test_keep_rescues_a_cut_block below has outputs that open one)
    for k in ("default", "keep"):
        assert "truncated" not in rw[k]["dropped"] and rw[k]["dropped"] == rw["default"]["dropped"]
    # answers: kept by default (as before), dropped under drop, the same count of cut outputs
    a_cut = ans["default"]["truncated_outputs"]
    assert a_cut >= ans["default"]["seen"] // 2 and ans["drop"]["truncated_outputs"] == a_cut
    assert "truncated" not in ans["default"]["dropped"] and ans["drop"]["dropped"]["truncated"] == a_cut
    assert _rows(root, "ans_default") - _rows(root, "ans_drop") == a_cut
    drops = [
        json.loads(x) for x in (root / "ans_drop" / "drops.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert sum(d["reason"] == "truncated" for d in drops) == a_cut


def test_the_option_enters_the_fingerprint_only_when_set():
    for builder in ("back_and_forth", "distillation"):
        default = builder_fingerprint_parts(builder, {})
        assert "truncated" not in default["options"]
        assert builder_fingerprint_parts(builder, {"truncated": "by_content"}) == default
        assert builder_fingerprint_parts(builder, {"truncated": "drop"})["options"]["truncated"] == "drop"


class _Outputs:
    """A generator that answers with fixed (text, finish reason) pairs: the parse's control flow only."""

    def __init__(self, outputs):
        self.outputs = outputs

    def generate(self, requests):
        from harness.core.records import Generation

        return [Generation(r.id, t, f, 10, 6) for r, (t, f) in zip(requests, self.outputs)]


def test_keep_rescues_a_cut_block_and_drop_drops_it(tmp_path: Path):
    import dataclasses

    from datasets_builders import common
    from datasets_builders.steps import StepLog
    from harness.backends.base import SamplingParams
    from harness.core.records import InstructionRecord, Message

    outputs = [
        ("[RES] a cut rewri", "length"),
        ("[RES] whole [/RES]", "stop"),
        ("no block at al", "length"),
        ("[RES] unclosed but stopped", "stop"),
    ]
    records = [
        InstructionRecord((Message("user", f"q{i}"), Message("assistant", f"web {i}")), "t", {})
        for i in range(4)
    ]

    @dataclasses.dataclass
    class Ctx:
        log: StepLog

        def generator(self, model):
            return _Outputs(outputs)

        def render(self, name, **values):
            return repr(values)

        def sampling_seed(self, *parts):
            return 0

    got = {}
    for policy in ("by_content", "drop", "keep"):
        ctx = Ctx(StepLog(tmp_path / f"{policy}.jsonl"))
        kept = common.rewrite(
            ctx, records, model="m", params=SamplingParams(max_tokens=6), missing_res="drop", truncated=policy
        )
        step = ctx.log.to_dict()["rewrite"]
        got[policy] = ([r.response for r in kept], step["dropped"], step["truncated_outputs"])
    assert got["by_content"] == (["whole"], {"unclosed_res": 2, "missing_res": 1}, 2)
    assert got["drop"] == (["whole"], {"truncated": 2, "unclosed_res": 1}, 2)
    # keep rescues the cut block only: a block left open by a stopped generation is still dropped
    assert got["keep"] == (["a cut rewri", "whole"], {"missing_res": 1, "unclosed_res": 1}, 2)
