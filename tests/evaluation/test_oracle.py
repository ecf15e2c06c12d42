"""The positive control's pieces without a model: the known-answer tasks, the datasets of known
quality, and the oracle judge behind the Judge protocol (position handling, metrics path)."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core import tasks
from harness.core.errors import ConfigError
from harness.evaluation import comparison, judges

REVERSE = tasks.TASKS["reverse"]


def test_splits_never_share_an_input_and_are_reproducible() -> None:
    seen = {}
    for split in ("eval", "seed", "train", "corpus"):
        ex = tasks.examples(REVERSE, split, 300)
        assert len(ex) == 300 and len({i for i, _ in ex}) == 300
        assert ex == tasks.examples(REVERSE, split, 300)
        seen[split] = {tuple(tasks.inputs_of(REVERSE, i)) for i, _ in ex}
        assert all(tasks.correct(REVERSE, i, a) for i, a in ex)
    names = list(seen)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not seen[a] & seen[b], (a, b)


def test_partial_credit_counts_positions_and_penalises_extra_words() -> None:
    ins = "Reverse the words: key file path code"
    assert tasks.truth(REVERSE, ins) == "code path file key"
    assert tasks.score(REVERSE, ins, "code path file key") == 1.0
    assert tasks.score(REVERSE, ins, "code path key file") == 0.5
    assert tasks.score(REVERSE, ins, "code path file key key key key key") == 0.5
    assert tasks.score(REVERSE, ins, "") == 0.0
    assert tasks.score(REVERSE, "Sort the words: key", "key") == 0.0  # not an instruction of this task
    refs = tasks.eval_rows(REVERSE)
    acc = sum(tasks.correct(REVERSE, r["instruction"], r["output"]) for r in refs) / len(refs)
    assert 0 < acc < 0.3  # the fixed weaker model: right sometimes, not often
    with pytest.raises(ConfigError, match="did you mean 'reverse'"):
        tasks.get_task("revers")
    with pytest.raises(ConfigError, match="invertible"):
        tasks.task_of_source("control:sort", key="corpus.source", invertible=True)


def _pairs(n: int = 60) -> list[dict]:
    """Reference wrong, model right, on every instruction: the oracle must prefer the model every time."""
    return [
        {"instruction": ins, "output_1": "nothing at all", "output_2": ans, "generator_2": "m"}
        for ins, ans in tasks.examples(REVERSE, "eval", n)
    ]


def test_oracle_judge_maps_the_shown_order_back() -> None:
    judge = judges.make_judge("oracle:reverse")
    pairs = _pairs()
    switched = [judges.shown_order(p, 0)[2] for p in pairs]
    assert 0 < sum(switched) < len(pairs)  # both positions occur, so a lost unswap would show
    run = judge.judge(pairs)
    assert [a["preference"] for a in run.annotations] == [2.0] * len(pairs)
    assert run.stats["oracle_accuracy"] == 100.0 and run.stats["oracle_reference_accuracy"] == 0.0
    flipped = judge.judge([{**p, "output_1": p["output_2"], "output_2": p["output_1"]} for p in pairs])
    assert [a["preference"] for a in flipped.annotations] == [1.0] * len(pairs)
    same = judge.judge([{**p, "output_1": p["output_2"]} for p in pairs[:3]])
    assert [a["preference"] for a in same.annotations] == [1.5] * 3


def test_oracle_preferences_run_through_the_metrics_unchanged() -> None:
    from harness.evaluation.alpaca import score

    judge = judges.make_judge("oracle:reverse")
    good = judge.judge(_pairs()).annotations
    half = judge.judge(
        [{**p, "output_2": p["output_1"] + " x"} if i % 2 else p for i, p in enumerate(_pairs())]
    ).annotations
    out = score(good, [{"output": a["output_2"]} for a in good], None)
    assert out["win_rate"] == pytest.approx(100.0) and out["n_total"] == len(good)
    c = comparison.compare(half, good, n_bootstrap=2000)
    assert c.difference > 0 and c.p_value < 0.01 and c.same_reference


def test_judge_kinds_come_from_the_registry(tmp_path) -> None:
    from harness.experiment import load_experiment

    assert str(judges.parse_judge("oracle:reverse")) == "oracle:reverse"
    with pytest.raises(ConfigError, match="oracle"):
        judges.parse_judge("orcale:reverse")
    exp = load_experiment("control", ["eval.max_instances=10"])
    assert exp.eval.judge == "oracle:reverse"
    with pytest.raises(ConfigError, match=r"control\.yaml: 'eval.judge'.*unknown control task 'revers'"):
        load_experiment("control", ["eval.judge=oracle:revers"])
    with pytest.raises(ConfigError, match="unknown judge kind 'orcale'.*"):
        load_experiment("control", ["eval.judge=orcale:reverse"])


def test_control_datasets_have_their_known_quality(tmp_path) -> None:
    from datasets_builders import control
    from datasets_builders.steps import StepLog
    from harness.stages.builders import parse_options

    class Ctx:
        log = StepLog(tmp_path / "drops.jsonl.partial")
        seed_records = ()

    def share_correct(**opts) -> float:
        Ctx.options = parse_options("control", {"n": 400, **opts})
        recs = control.build(Ctx)
        return sum(tasks.correct(REVERSE, r.instruction, r.response) for r in recs) / max(1, len(recs))

    assert share_correct(quality="clean") == 1.0
    assert 0.7 < share_correct(quality="noisy", rate=0.25) < 0.8
    assert 0.2 < share_correct(quality="noisy", rate=0.75) < 0.3
    assert share_correct(quality="shuffled") < 0.02
    Ctx.options = parse_options("control", {"n": 5})
    Ctx.seed_records = [dataclasses.replace(r, provenance={"origin": "seed"}) for r in control.build(Ctx)]
    assert share_correct(quality="seed_only") == 1.0  # the seed set itself, as the row's dataset
    assert [r.provenance["origin"] for r in control.build(Ctx)] == ["web"] * 5  # tagged like every dataset
    with pytest.raises(ConfigError, match="rate"):
        parse_options("control", {"quality": "clean", "rate": 0.5})


def test_control_verdict_names_the_failing_comparison() -> None:
    from harness.evaluation.control import describe, verdict

    judge = judges.make_judge("oracle:reverse")
    pairs = _pairs(40)

    def model(right_every: int) -> list[dict]:  # right on every k-th instruction, wrong elsewhere
        return judge.judge(
            [p if i % right_every == 0 else {**p, "output_2": "nothing"} for i, p in enumerate(pairs)]
        ).annotations

    good, mid, bad = model(1), model(2), model(1000)
    ok = verdict(
        {"a": good, "b": mid, "c": bad, "a2": good}, ["a", "b", "c"], [("a", "a2")], n_bootstrap=2000
    )
    assert ok["ok"], [describe(c) for c in ok["checks"]]
    wrong = verdict({"a": mid, "b": good, "a2": bad}, ["a", "b"], [("a", "a2")], n_bootstrap=2000)
    assert not wrong["ok"]
    assert [c["passed"] for c in wrong["checks"]] == [False, False]
    assert "a > b" in describe(wrong["checks"][0]) and "FAIL" in describe(wrong["checks"][1])
