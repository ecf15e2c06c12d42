"""Leak-free separability and noise floors on the real AlpacaEval outputs (MiniLM embeddings).

The defect this guards against: when two sets answer the same instructions, stratified folds put
instruction i's answer from A in training and its answer from B in the test fold; the embedding is
dominated by topic, so the classifier learns "this topic was A" and scores below chance.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from harness.evaluation.analysis.embeddings import Embedder
from harness.evaluation.analysis.report import AnalysisSettings, EmbeddedSet, compare_pair, halves, judge
from harness.evaluation.analysis.separability import (
    classifier_separability,
    instruction_groups,
    paired_separability,
    weighted_auc,
)
from harness.evaluation.analysis.texts import TextSet, load_text_set


def test_a_copy_answering_the_same_instructions_is_not_separated(
    real_sets: dict[str, TextSet], real_embeddings: dict[str, np.ndarray]
) -> None:
    """Two sets with the same answers to the same instructions: any score off chance is leakage."""
    s, e = real_sets["gpt4"], real_embeddings["gpt4"]
    grouped = classifier_separability(
        e, e.copy(), instructions_a=s.instructions, instructions_b=s.instructions, bootstrap=200
    )
    acc = grouped["classifier_accuracy"]
    assert grouped["cv"] == {"kind": "grouped by instruction", "folds": 5, "shared_instructions": 805}
    assert abs(acc["mean"] - 0.5) < 0.02 and acc["cv"] == "grouped by instruction"
    # the same data split without regard to instructions anti-learns: the defect the grouping removes
    leaky = classifier_separability(e, e.copy(), bootstrap=200)
    assert leaky["cv"]["kind"] == "stratified"
    assert leaky["classifier_accuracy"]["mean"] < 0.2


def test_grouped_folds_never_split_an_instruction(real_sets: dict[str, TextSet]) -> None:
    from sklearn.model_selection import StratifiedGroupKFold

    a, b = real_sets["gpt4"], real_sets["alpaca-7b"]
    groups, shared = instruction_groups(a.instructions, b.instructions[:400])
    assert shared == 400
    y = np.r_[np.ones(len(a)), np.zeros(400)]
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(
        np.zeros((len(y), 1)), y, groups
    ):
        assert not set(groups[train]) & set(groups[test])
    # an empty instruction pairs nothing
    groups, shared = instruction_groups(["q", "", "r"], ["q", ""])
    assert shared == 1 and groups[0] == groups[3] and len(set(groups)) == 4


def test_weighted_auc_matches_scikit_learn(real_embeddings: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    score = np.round(
        real_embeddings["gpt4"][:, 0] - real_embeddings["alpaca-7b"][:, 0], 2
    )  # rounding makes ties
    y = (rng.random(len(score)) < 0.5).astype(int)
    w = rng.integers(0, 4, size=(3, len(score))).astype(float)
    got = weighted_auc(y, score, w)
    want = [roc_auc_score(y, score, sample_weight=row) for row in w]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_halves_are_equal_and_share_no_instruction() -> None:
    ins = [f"q{i % 30}" for i in range(101)]  # repeated instructions
    h1, h2 = halves(ins, seed=0)
    assert len(h1) == len(h2) >= 45 and not set(h1) & set(h2)
    assert not {ins[i] for i in h1} & {ins[i] for i in h2}
    assert halves(ins, seed=0) == (h1, h2) and halves(ins, seed=1) != (h1, h2)


def test_verdict_rule() -> None:
    floor = {"mean": 0.5, "se": 0.01}
    assert judge({"mean": 0.56, "se": 0.01}, dict(floor), higher_separates=True)["verdict"] == "separated"
    assert judge({"mean": 0.52, "se": 0.01}, dict(floor), higher_separates=True)["verdict"] == "not separated"
    assert (
        judge({"mean": 0.44, "se": 0.01}, dict(floor), higher_separates=True)["verdict"]
        == "below the noise floor"
    )
    assert (
        judge({"mean": 0.90, "se": 0.01}, {"mean": 0.98, "se": 0.01}, higher_separates=False)["verdict"]
        == "separated"
    )
    assert (
        judge({"mean": 0.97, "se": 0.01}, {"mean": 0.98, "se": 0.01}, higher_separates=False)["verdict"]
        == "not separated"
    )
    assert judge({"mean": 0.9, "se": 0.01}, None, higher_separates=False)["verdict"].startswith(
        "no noise floor"
    )


def test_paired_interval_brackets_the_score(real_embeddings: dict[str, np.ndarray]) -> None:
    p = paired_separability(real_embeddings["gpt4"], real_embeddings["alpaca-7b"], bootstrap=300)
    acc = p["paired_accuracy"]
    assert acc["ci"][0] < acc["mean"] < acc["ci"][1] and acc["ci"][0] > 0.75 and acc["se"] > 0


@pytest.fixture(scope="module")
def all_model_sets(model_outputs: Path, embedder: Embedder) -> dict[str, tuple[TextSet, np.ndarray]]:
    sets = {p.stem: load_text_set(p) for p in sorted(model_outputs.glob("*.json"))}
    return {k: (s, embedder.embed(s.texts)) for k, s in sets.items()}


def test_no_real_pair_scores_below_chance(all_model_sets: dict[str, tuple[TextSet, np.ndarray]]) -> None:
    """Every pair of the five models: grouped CV, and no classifier score below its floor or chance beyond the noise."""
    assert len(all_model_sets) == 5
    floors: dict[Any, dict[str, Any]] = {}
    settings = AnalysisSettings(seeds=(0,), bootstrap=300)
    for (a, (sa, ea)), (b, (sb, eb)) in itertools.combinations(all_model_sets.items(), 2):
        p = compare_pair(EmbeddedSet(sa, ea, ea), EmbeddedSet(sb, eb, eb), settings, floors=floors)
        assert p["cv"]["kind"] == "grouped by instruction", (a, b)
        for m in ("classifier_accuracy", "classifier_auc"):
            x = p[m]
            assert x["verdict"] != "below the noise floor", (a, b, m, x)
            assert x["mean"] > x["chance"] - 1.96 * x["se"], (a, b, m, x)
        assert not any("leaks" in w for w in p["warnings"])


def test_a_floor_below_chance_does_not_make_chance_look_separated() -> None:
    # halves can score below chance (topic neighbours in the other half); a pair at chance is not separated
    floor = {"mean": 0.44, "se": 0.018}
    m = judge({"mean": 0.50, "se": 0.018, "chance": 0.5}, dict(floor), higher_separates=True, chance=0.5)
    assert m["verdict"] == "not separated"
    m = judge({"mean": 0.43, "se": 0.018}, dict(floor), higher_separates=True, chance=0.5)
    assert m["verdict"] == "not separated"  # within the noise of the floor
    m = judge({"mean": 0.38, "se": 0.018}, dict(floor), higher_separates=True, chance=0.5)
    assert m["verdict"] == "below the noise floor"
