"""`eval.tag_placement: question`: the eval tag appended to the instruction (the papers' placement)
instead of the system turn, on the real tiny model and request cache; the judge still sees the eval
set's instruction; at its default ("system") the option stays out of the eval fingerprints."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

from harness.experiment import eval_prompt_parts, load_experiment
from harness.stages import fingerprints
from harness.stages.rows import evaluated


def test_question_placement_appends_the_tag(tiny_model, tmp_path):
    from harness.backends import load_generator
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.backends.cache import _Keys
    from harness.core.records import Message
    from harness.evaluation.alpaca import generate_outputs

    exp = load_experiment("demo", ["eval.tag_placement=question"])
    system, suffix = eval_prompt_parts(exp, "seed")
    assert system is None and suffix == f"\n\n{exp.train.seed_tag}"
    assert eval_prompt_parts(load_experiment("demo"), "seed") == (exp.train.seed_tag, None)
    assert eval_prompt_parts(exp, "none") == (None, None)
    rows = [{"instruction": "Explain os.path.join."}, {"instruction": "Explain json.dumps."}]
    decoding = SimpleNamespace(temperature=0.0, top_p=1.0, max_tokens=4, seed=0)
    cache = tmp_path / "cache.sqlite"
    outputs, _, gen = generate_outputs(
        f"hf:{tiny_model}",
        rows,
        decoding=decoding,
        cache=cache,
        generator_options={"dtype": "float32"},
        name="m",
        question_suffix=suffix,
    )
    gen.close()
    assert [o["instruction"] for o in outputs] == [r["instruction"] for r in rows]  # what the judge reads
    with sqlite3.connect(cache) as db:
        stored = {k for (k,) in db.execute("SELECT key FROM generations")}
    probe = load_generator(f"hf:{tiny_model}", dtype="float32")
    keys = _Keys(probe.identity())
    probe.close()
    params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=4, seed=0)

    def key(*messages):
        return keys(ChatRequest(id="x", messages=messages, params=params))

    assert {key(Message("user", r["instruction"] + suffix)) for r in rows} == stored
    assert (
        not {key(Message("system", exp.train.seed_tag), Message("user", r["instruction"])) for r in rows}
        & stored
    )


def test_the_placement_enters_eval_fingerprints_only_when_not_the_default():
    base, system, question = (
        load_experiment("demo", o)
        for o in ([], ["eval.tag_placement=system"], ["eval.tag_placement=question"])
    )
    for r in evaluated(base):
        fp = fingerprints.eval_fingerprint(base, r.eval_key)
        assert fingerprints.eval_fingerprint(system, r.eval_key) == fp
        assert fingerprints.eval_fingerprint(question, r.eval_key) != fp
