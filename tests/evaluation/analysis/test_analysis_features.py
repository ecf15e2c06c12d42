"""MAUVE's features (the LM switch and its match with mauve-text), truncation counts, both trigram counts,
curation precision/recall, and the results cache, on real AlpacaEval outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import InputError
from harness.evaluation.analysis import comparisons
from harness.evaluation.analysis import report as report_module
from harness.evaluation.analysis.curation import curation_report, precision_recall
from harness.evaluation.analysis.diversity import ngrams, tokenize
from harness.evaluation.analysis.embeddings import Embedder, make_embedder, text_key
from harness.evaluation.analysis.report import AnalysisSettings, analyze
from harness.evaluation.analysis.texts import TextSet


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.backends.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("lm") / "tiny")


def test_lm_features_match_mauve_text_featurization(
    tiny_lm: Path, real_sets: dict[str, TextSet], tmp_path: Path
) -> None:
    """Our LM featurizer gives what mauve-text's own featurize_tokens_from_model gives on the same model."""
    import torch
    from mauve.utils import featurize_tokens_from_model
    from transformers import AutoModel, AutoTokenizer

    texts = list(real_sets["alpaca-7b"].texts[:12])
    ours = make_embedder(f"lm:{tiny_lm}", cache_dir=tmp_path, max_length=64)
    got = ours.embed(texts)
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModel.from_pretrained(tiny_lm).eval()
    tokens = [tok.encode(t, return_tensors="pt", truncation=True, max_length=64) for t in texts]
    with torch.no_grad():
        want = featurize_tokens_from_model(model, tokens, batch_size=1).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    # truncation is counted against the same window
    assert ours.window == 64
    assert sum(ours.truncated(texts)) == sum(len(tok.encode(t)) > 64 for t in texts) > 0


def test_minilm_truncation_is_counted(
    embedder: Embedder, real_sets: dict[str, TextSet], real_embeddings: dict[str, np.ndarray]
) -> None:
    texts = real_sets["gpt4"].texts
    tok = embedder.encoder.model.tokenizer
    want = sum(len(tok(t)["input_ids"]) > 256 for t in texts)
    assert embedder.window == 256
    assert sum(embedder.truncated(texts)) == want and 100 < want < 805  # gpt4 writes long answers


def test_report_names_features_truncation_and_both_trigram_counts(
    tiny_lm: Path, embedder: Embedder, real_sets: dict[str, TextSet], tmp_path: Path
) -> None:
    a, b = real_sets["gpt4"].subsample(60, 0), real_sets["alpaca-7b"].subsample(60, 0)
    lm = make_embedder(f"lm:{tiny_lm}", cache_dir=tmp_path, max_length=128)
    r = analyze(
        [a, b], embedder, AnalysisSettings(seeds=(0,), folds=3, bootstrap=100), mauve_embedder=lm
    ).report
    assert r["mauve_features"]["kind"].startswith(
        "LM hidden states (the last token, texts cut to 128 tokens)"
    )
    assert r["embedder"]["kind"].startswith("sentence embeddings (the offline default")
    p = r["pairs"][0]
    assert (
        p["features"]["mauve"]["name"] == f"lm:{tiny_lm}"
        and p["features"]["classifier"]["name"] == "all-MiniLM-L6-v2"
    )
    cut = p["truncated"]
    assert cut["mauve"]["window"] == 128 and cut["classifier"]["window"] == 256
    assert cut["mauve"]["gpt4"] == sum(lm.truncated(a.texts)) > 0
    assert cut["classifier"]["gpt4"] == sum(embedder.truncated(a.texts)) > 0
    assert any("longer than the 128-token window" in n for n in p["notes"])
    assert r["sets"]["gpt4"]["truncated"] == {
        "classifier": cut["classifier"]["gpt4"],
        "mauve": cut["mauve"]["gpt4"],
    }
    # the paper's trigram count: unique trigrams in the same number of examples of each set
    assert r["diversity_examples"] == 60
    for s in (a, b):
        order = np.random.default_rng(0).permutation(len(s))
        want = len({g for i in order[:60] for g in ngrams(tokenize(s.texts[i]), 3)})
        assert r["sets"][s.name]["unique_trigrams_at_equal_examples"] == want
        assert r["sets"][s.name]["diversity_examples_counted"] == 60
        assert r["sets"][s.name]["unique_trigrams_per_1k_tokens"] > 0
    # the JSON carries, per measure: value, interval, noise floor, verdict
    for m in ("mauve", "classifier_accuracy", "classifier_auc", "paired_accuracy"):
        assert {"mean", "ci", "se", "noise_floor", "verdict"} <= set(p[m]), m
    assert p["cv"]["kind"] == "grouped by instruction" and "verdict_rule" in r
    json.dumps(r)


def test_unknown_lm_featurizer_is_a_clear_error(real_sets: dict[str, TextSet], tmp_path: Path) -> None:
    lm = make_embedder("lm:no-such-org/no-such-model", cache_dir=tmp_path)
    with pytest.raises(InputError, match="cannot load the LM featurizer"):
        lm.embed(["a text"])


def test_a_rerun_recomputes_nothing(
    embedder: Embedder, real_sets: dict[str, TextSet], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sets = [real_sets["gpt4"].subsample(120, 1), real_sets["llama-2-7b-chat-hf"].subsample(120, 1)]
    fresh = make_embedder(cache_dir=tmp_path)  # an empty results table
    for s in sets:  # vectors copied from the shared cache, so nothing is encoded here
        fresh.cache.put_many(
            fresh.identity,
            [
                (text_key(x), v.tobytes(), t)
                for x, v, t in zip(
                    s.texts, embedder.embed(s.texts), embedder.token_counts(s.texts), strict=True
                )
            ],
        )
    first = analyze(sets, fresh, AnalysisSettings(seeds=(0, 1), bootstrap=100)).report

    def boom(*args, **kwargs):
        raise AssertionError("recomputed a cached measure")

    for name in ("mauve_score", "classifier_separability", "paired_separability"):
        monkeypatch.setattr(comparisons, name, boom)
    monkeypatch.setattr(report_module.contam, "near_duplicates", boom)
    again = analyze(
        sets, make_embedder(cache_dir=tmp_path), AnalysisSettings(seeds=(0, 1), bootstrap=100)
    ).report
    assert again == first
    # other settings are other keys: they are measured, not served from the cache
    with pytest.raises(AssertionError, match="recomputed"):
        analyze(sets, make_embedder(cache_dir=tmp_path), AnalysisSettings(seeds=(0, 1, 2), bootstrap=100))


def _built(tmp_path: Path, sets: dict[str, TextSet]) -> tuple[Path, list[str], TextSet]:
    """A built humpback-like dataset from real AlpacaEval answers: kept records with scores, and drops."""
    from harness.core.records import InstructionRecord, Message

    d = tmp_path / "built"
    d.mkdir()
    s = sets["alpaca-7b"]
    scores = [5.0, 4.5, 4.0, 3.0, 5.0, 4.5, 2.0, 4.0, 5.0, 3.5]
    kept, drops = [], []
    for i, sc in enumerate(scores):
        rec = InstructionRecord(
            (Message("user", s.instructions[i]), Message("assistant", s.texts[i])),
            "humpback",
            {"score": sc, "curation_step": "curate-1"},
        )
        if sc >= 4.5:
            kept.append(rec.to_dict())
        else:
            drops.append({"step": "curate-1", "reason": "below_threshold", "id": rec.id, "score": sc})
    drops.append(
        {"step": "curate-0", "reason": "below_threshold", "id": "from-an-earlier-round", "score": 1.0}
    )
    (d / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    (d / "drops.jsonl").write_text("".join(json.dumps(r) + "\n" for r in drops))
    ids = [
        InstructionRecord((Message("user", s.instructions[i]), Message("assistant", s.texts[i])), "h").id
        for i in range(len(scores))
    ]
    return d, ids, s


def test_curation_precision_recall(real_sets: dict[str, TextSet], tmp_path: Path) -> None:
    d, ids, s = _built(tmp_path, real_sets)
    # reference: good = 0, 2, 4, 7 (by id for dropped ones, by instruction for a kept one), and one unknown row
    ref = [
        {"id": ids[0], "score": 5},
        {"id": ids[1], "score": 3},
        {"id": ids[2], "good": True},
        {"id": ids[3], "score": 2},
        {"instruction": s.instructions[4], "score": 4.5},
        {"id": ids[6], "score": 1},
        {"id": ids[7], "score": 5},
        {"id": "nobody", "score": 5},
    ]
    path = tmp_path / "ref.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ref))
    r = curation_report(d, path, threshold=4.5)
    assert (r["rated"], r["judged"], r["reference_good"], r["unmatched_reference_rows"]) == (10, 7, 4, 1)
    by_t = {row["threshold"]: row for row in r["thresholds"]}
    # judged scores: 0:5 good, 1:4.5 bad, 2:4 good, 3:3 bad, 4:5 good, 6:2 bad, 7:4 good
    assert by_t[5.0] == {"threshold": 5.0, "selected": 2, "good_selected": 2, "precision": 1.0, "recall": 0.5}
    assert by_t[4.0]["precision"] == pytest.approx(4 / 5) and by_t[4.0]["recall"] == 1.0
    assert by_t[2.0]["precision"] == pytest.approx(4 / 7)
    assert r["at_builder_threshold"]["precision"] == pytest.approx(2 / 3)
    assert precision_recall({"a": 1.0}, {"a": False}, [2.0])[0]["precision"] is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: .*needs 'score'"):
        curation_report(d, bad)


def test_paper_configs_select_the_papers_mauve_setup() -> None:
    from harness.experiment import load_experiment

    for name in ("paper-7b", "paper-70b"):
        cfg = load_experiment(name).analysis
        assert (cfg.mauve_features, cfg.max_texts) == ("lm:gpt2-large", 10000)
    demo = load_experiment("demo").analysis
    assert demo.mauve_features is None  # offline default: sentence embeddings
    with pytest.raises(Exception, match="curation_reference.nope"):
        load_experiment("demo", ["analysis.curation_reference.nope=x.jsonl"])


def test_lengths_in_model_tokens_beside_regex_tokens(
    tiny_lm: Path, embedder: Embedder, real_sets: dict[str, TextSet], tmp_path: Path
) -> None:
    """`analysis.length_tokenizer`: each set's lengths in a model's tokens too (the papers' length
    table counts model tokens), from the stage's counter on the tiny model's real tokenizer."""
    from transformers import AutoTokenizer

    from harness.experiment import load_experiment
    from harness.stages.analyze import _model_token_counter, analysis_fingerprint

    exp = load_experiment("demo", [f"analysis.length_tokenizer={tiny_lm}"])
    name, count = _model_token_counter(exp, tmp_path / "runs")
    sets = [real_sets["gpt4"].subsample(40, 1), real_sets["llama-2-7b-chat-hf"].subsample(40, 1)]
    report = analyze(
        sets, embedder, AnalysisSettings(seeds=(0,), folds=3, bootstrap=50, model_tokens=(name, count))
    ).report
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    for s in sets:
        got = report["sets"][s.name]
        want = [len(tok.encode(t, add_special_tokens=False)) for t in s.texts]
        assert got["length_model_tokens"]["tokenizer"] == str(tiny_lm)
        assert got["length_model_tokens"]["mean"] == pytest.approx(np.mean(want))
        assert got["length_model_tokens"]["mean"] != pytest.approx(got["mean_length_tokens"])  # two measures
    plain = analyze(sets, embedder, AnalysisSettings(seeds=(0,), folds=3, bootstrap=50)).report
    assert all("length_model_tokens" not in plain["sets"][s.name] for s in sets)
    # at its default the key stays out of the analysis fingerprint
    demo, base = load_experiment("demo"), load_experiment("demo", ["analysis.length_tokenizer=base"])
    assert analysis_fingerprint(demo, with_outputs=False) == analysis_fingerprint(
        load_experiment("demo", ["analysis.length_tokenizer=null"]), with_outputs=False
    )
    assert analysis_fingerprint(base, with_outputs=False) != analysis_fingerprint(demo, with_outputs=False)
    assert _model_token_counter(base, tmp_path / "runs")[0].startswith("base (")
