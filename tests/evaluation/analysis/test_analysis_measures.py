"""MAUVE, separability, near-duplicates, contamination and the embedding cache on real AlpacaEval outputs.

Reference behaviour with MiniLM on the 805 shared instructions: two random halves of gpt4's
outputs are "not separated" (accuracy ~0.5, MAUVE ~0.98); gpt4 vs alpaca-7b and vs llama-2-7b-chat
are separated by the classifier (cross-validated grouped by instruction) well above the noise floor
of two halves, and more so when paired by instruction, while MAUVE on sentence embeddings stays
within its noise floor for all of them (the report says MAUVE does not discriminate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.core.errors import InputError
from harness.evaluation.analysis.contamination import contamination, near_duplicates
from harness.evaluation.analysis.embeddings import Embedder, make_embedder
from harness.evaluation.analysis.report import AnalysisSettings, EmbeddedSet, analyze, compare_pair
from harness.evaluation.analysis.texts import TextSet


def _halves(s: TextSet, emb: np.ndarray) -> tuple[TextSet, TextSet, np.ndarray, np.ndarray]:
    """A fixed random split of one model's outputs into two sets of 402."""
    perm = np.random.default_rng(0).permutation(len(s))
    a, b = perm[:402], perm[402:804]

    def part(name: str, idx: np.ndarray) -> TextSet:
        return TextSet(name, tuple(s.texts[i] for i in idx), tuple(s.instructions[i] for i in idx))

    return part("gpt4-a", a), part("gpt4-b", b), emb[a], emb[b]


@pytest.fixture(scope="module")
def pairs(real_sets: dict[str, TextSet], real_embeddings: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    ha, hb, ea, eb = _halves(real_sets["gpt4"], real_embeddings["gpt4"])
    out = {"halves": compare_pair(EmbeddedSet(ha, ea, ea), EmbeddedSet(hb, eb, eb))}
    g = real_embeddings["gpt4"]
    for other in ("alpaca-7b", "llama-2-7b-chat-hf"):
        e = real_embeddings[other]
        out[other] = compare_pair(EmbeddedSet(real_sets["gpt4"], g, g), EmbeddedSet(real_sets[other], e, e))
    return out


def test_halves_of_one_model_are_inseparable(pairs: dict[str, dict[str, Any]]) -> None:
    h = pairs["halves"]
    assert h["classifier_accuracy"]["mean"] <= 0.56
    assert h["classifier_accuracy"]["chance"] == 0.5
    assert h["mauve"]["mean"] >= 0.9
    assert h["paired_accuracy"] is None and h["n_shared_instructions"] == 0  # disjoint instructions
    assert h["cv"] == {"kind": "stratified", "folds": 5, "shared_instructions": 0}
    for m in ("mauve", "classifier_accuracy", "classifier_auc"):
        assert h[m]["verdict"] == "not separated", (m, h[m])
    assert any("coarse" in w for w in h["warnings"])  # 402 texts per set is a small sample for MAUVE


@pytest.mark.parametrize("other", ["alpaca-7b", "llama-2-7b-chat-hf"])
def test_different_models_separate_and_more_so_paired(pairs: dict[str, dict[str, Any]], other: str) -> None:
    p, halves = pairs[other], pairs["halves"]
    acc, paired = p["classifier_accuracy"], p["paired_accuracy"]
    assert p["cv"] == {"kind": "grouped by instruction", "folds": 5, "shared_instructions": 805}
    # above the noise floor (two halves of one set) by more than the spread of both
    floor = acc["noise_floor"]
    assert acc["mean"] - floor["mean"] > 1.96 * (acc["se"] ** 2 + floor["se"] ** 2) ** 0.5
    assert acc["verdict"] == p["classifier_auc"]["verdict"] == "separated"
    assert acc["mean"] >= halves["classifier_accuracy"]["mean"] + 0.08
    assert acc["ci"][0] < acc["mean"] < acc["ci"][1] and 0 < acc["se"] < 0.05
    assert p["classifier_auc"]["mean"] > 0.65
    assert paired["mean"] >= acc["mean"] + 0.05 and paired["mean"] >= 0.8 and paired["verdict"] == "separated"
    assert paired["noise_floor"]["mean"] == 0.5  # exact chance: the paired labels are symmetric
    assert p["n_shared_instructions"] == 805 and p["n_per_set"] == 805
    # MAUVE on sentence embeddings does not see the difference at this size; the result must say so
    assert p["mauve"]["mean"] > 0.9 and p["mauve"]["verdict"] == "not separated"
    assert p["mauve"]["noise_floor"]["n_per_half"] == 402
    assert any("does not discriminate" in w for w in p["warnings"])


def _numbers(x: Any) -> list[float]:
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _numbers(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _numbers(item)]
    return [float(x)] if isinstance(x, (int, float)) and not isinstance(x, bool) else []


def test_numbers_are_stable_with_a_fixed_seed(
    real_sets: dict[str, TextSet], real_embeddings: dict[str, np.ndarray], pairs: dict[str, dict[str, Any]]
) -> None:
    g, e = real_embeddings["gpt4"], real_embeddings["alpaca-7b"]
    again = compare_pair(EmbeddedSet(real_sets["gpt4"], g, g), EmbeddedSet(real_sets["alpaca-7b"], e, e))
    first, second = _numbers(pairs["alpaca-7b"]), _numbers(again)
    assert len(first) == len(second) > 20
    np.testing.assert_allclose(second, first, rtol=0, atol=1e-6)


def test_unequal_sizes_are_subsampled_and_said(real_sets: dict[str, TextSet], embedder: Embedder) -> None:
    small = real_sets["alpaca-7b"].subsample(200, seed=3)
    result = analyze([real_sets["gpt4"], small], embedder, AnalysisSettings(seeds=(0, 1)))
    pair = result.report["pairs"][0]
    assert pair["n_per_set"] == 200
    assert any("gpt4 subsampled from 805 to 200" in n for n in pair["notes"])
    assert pair["n_shared_instructions"] == 200  # paired on the shared prompts, not on a second random cut
    sets = result.report["sets"]
    assert sets["gpt4"]["n"] == 805 and sets["alpaca-7b"]["n"] == 200
    # diversity is counted on the same number of tokens for both sets
    assert sets["gpt4"]["diversity_tokens_counted"] == sets["alpaca-7b"]["diversity_tokens_counted"]
    assert result.report["embedder"]["name"] == "all-MiniLM-L6-v2" and result.report["embedder"]["dim"] == 384


def test_too_few_texts_says_the_minimum(real_sets: dict[str, TextSet], embedder: Embedder) -> None:
    tiny = TextSet("tiny", real_sets["gpt4"].texts[:7], real_sets["gpt4"].instructions[:7], dropped_empty=2)
    with pytest.raises(
        InputError, match=r"'tiny' has 7 texts after dropping 2 empty; .* at least 20 per set"
    ):
        analyze([real_sets["gpt4"], tiny], embedder)
    with pytest.raises(InputError, match="at least two"):
        analyze([real_sets["gpt4"]], embedder)


def test_near_duplicates_and_contamination(real_sets: dict[str, TextSet], embedder: Embedder) -> None:
    gpt4 = real_sets["gpt4"]
    prompts = list(gpt4.instructions[:30])
    train = prompts[:20] + [prompts[0].upper(), "  " + prompts[1] + "  "]  # two exact copies in disguise
    emb = embedder.embed(train)
    dups = near_duplicates(train, emb, threshold=0.95)
    assert dups["exact_duplicates"] == 2
    assert dups["pairs"] >= 2 and {(ex["i"], ex["j"]) for ex in dups["examples"]} >= {(1, 21)}
    evals = prompts[15:30] + ["Describe how a helicopter rotor produces lift."]
    found = contamination(train, emb, evals, embedder.embed(evals))
    assert found["eval_prompts"] == 16
    assert (
        found["contaminated"] == 5 and found["by_ngram"] == 5 and found["by_embedding"] == 5
    )  # prompts 15..19
    assert {ex["prompt_index"] for ex in found["examples"]} == set(range(5))


def test_cache_makes_a_rerun_skip_encoding(real_sets: dict[str, TextSet], tmp_path: Path) -> None:
    texts = list(real_sets["alpaca-7b"].texts[:20]) + [real_sets["alpaca-7b"].texts[0]]  # one duplicate
    first = make_embedder(cache_dir=tmp_path)
    a = first.embed(texts)
    assert (first.encoded, first.cache_hits) == (20, 0)  # the duplicate is encoded once
    second = make_embedder(cache_dir=tmp_path)
    b = second.embed(texts)
    assert (second.encoded, second.cache_hits) == (0, 20)
    assert second.encoder._model is None  # nothing was even loaded
    np.testing.assert_array_equal(a, b)
    assert a.shape == (21, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)


def test_lm_hidden_state_features(tmp_path: Path, real_sets: dict[str, TextSet]) -> None:
    from harness.backends.tiny_model import make_tiny_model
    from harness.evaluation.analysis.mauve import mauve_score

    model = make_tiny_model(tmp_path / "tiny")
    texts = list(real_sets["alpaca-7b"].texts[:25]) + list(real_sets["gpt4"].texts[:25])
    last = make_embedder(f"lm:{model}", cache_dir=tmp_path / "cache", pooling="last")
    mean = make_embedder(f"lm:{model}", cache_dir=tmp_path / "cache", pooling="mean")
    fl, fm = last.embed(texts), mean.embed(texts)
    assert fl.shape == fm.shape == (50, 128)
    assert last.identity != mean.identity and not np.allclose(fl, fm)
    # padding must not leak: a text's vector is the same alone as in a batch of longer texts
    np.testing.assert_allclose(last.encoder([texts[0]])[0], fl[0], atol=1e-4)
    again = make_embedder(f"lm:{model}", cache_dir=tmp_path / "cache", pooling="last")
    np.testing.assert_array_equal(again.embed(texts), fl)
    assert again.encoded == 0
    m = mauve_score(fl[:25], fl[25:], seeds=(0, 1))
    assert 0 < m["mean"] <= 1 and len(m["values"]) == 2
