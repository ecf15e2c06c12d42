"""Tests of harness.evaluation.metrics against real AlpacaEval annotations and alpaca_eval's own code."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _support import recompute_preference, weighted_preference

from harness.core.errors import InputError
from harness.evaluation import comparison, metrics


def test_win_rate_reproduces_the_official_leaderboard(official_win_rates: dict) -> None:
    from alpaca_eval.metrics import get_winrate

    for path, (win_rate, se, n) in official_win_rates.items():
        rows = metrics.load_annotations(path)
        ours = metrics.compute_win_rate([r["preference"] for r in rows])
        assert ours.win_rate == pytest.approx(win_rate, abs=1e-4), path
        assert ours.standard_error == pytest.approx(se, abs=1e-4), path
        assert ours.n_total == n, path
        theirs = get_winrate(rows)
        for key, value in ours.to_dict().items():
            assert value == pytest.approx(float(theirs[key]), abs=1e-9), (path, key)


def test_legacy_preference_codes_are_counted_as_alpaca_eval_does() -> None:
    from alpaca_eval.metrics import get_winrate

    # 0 is a draw; null, NaN and values outside [1, 2] are not counted.
    prefs = [1, 2, 0, None, float("nan"), 1.5, 3, 1.2, 1.7, 0.4]
    ours = metrics.compute_win_rate(prefs)
    assert ours.n_total == 6
    assert ours.n_draws == 2
    theirs = get_winrate([{"preference": p} for p in prefs])
    for key, value in ours.to_dict().items():
        assert value == pytest.approx(float(theirs[key]), abs=1e-9), key


@pytest.mark.parametrize("name", ["alpaca-7b", "vicuna-13b", "claude-2"])
def test_weighted_preference_recomputed_from_raw_completion(alpaca_eval_data: Path, name: str) -> None:
    rows = metrics.load_annotations(alpaca_eval_data / "annotations_ae2" / f"{name}.json")
    assert len(rows) == 805
    for i, row in enumerate(rows):
        assert recompute_preference(row) == pytest.approx(row["preference"], abs=1e-6), i
    # The Python repr form of the raw completion parses to the same value.
    row = next(r for r in rows if r["raw_completion"] is not None)
    switched = metrics.alpaca_eval_switched(row["instruction"])
    assert weighted_preference(repr(row["raw_completion"]), switched=switched) == pytest.approx(
        row["preference"], abs=1e-6
    )


def test_weighted_preference_formula_and_bad_completions() -> None:
    def choice(top: dict[str, float]) -> str:
        entries = [{"token": t, "logprob": lp} for t, lp in top.items()]
        return repr({"logprobs": {"content": [{"token": "m", "logprob": 0.0, "top_logprobs": entries}]}})

    # P(m) = 0.25 among {m, M} -> 2 - 0.25; other tokens are ignored.
    assert weighted_preference(
        choice({"m": math.log(0.2), "M": math.log(0.6), "The": -0.1})
    ) == pytest.approx(1.75)
    assert weighted_preference(
        choice({"m": math.log(0.2), "M": math.log(0.6)}), switched=True
    ) == pytest.approx(1.25)
    assert math.isnan(weighted_preference(choice({"The": -0.1})))
    with pytest.raises(ValueError):
        weighted_preference("__import__('os')")  # never evaluated
    with pytest.raises(ValueError):
        weighted_preference("{'text': 'M'}")


def _lc_rows(lc_data: Path) -> list[dict]:
    return json.loads((lc_data / "annotations.json").read_text())


def test_length_controlled_equals_alpaca_eval_on_synthetic_data(lc_data: Path, monkeypatch) -> None:
    import warnings

    from alpaca_eval.metrics import glm_winrate

    rows = _lc_rows(lc_data)
    ours = metrics.length_controlled_win_rate(rows, lc_data)
    assert ours.variant == "official" and ours.length_controlled_winrate is not None
    assert ours.to_metrics()["lc_label"] == "LC (official)"

    monkeypatch.setattr(
        glm_winrate, "hf_hub_download", lambda repo_id, filename, **_: str(lc_data / filename)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = glm_winrate.get_length_controlled_winrate(rows, save_weights_dir=None)
    assert ours.length_controlled_winrate == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)
    assert ours.lc_standard_error == pytest.approx(theirs["lc_standard_error"], abs=1e-9)
    # Longer outputs won here; controlling for length must move the rate.
    assert (
        abs(
            ours.length_controlled_winrate
            - metrics.compute_win_rate([r["preference"] for r in rows]).win_rate
        )
        > 0.01
    )


def test_length_controlled_unavailable_says_why(lc_data: Path, tmp_path: Path) -> None:
    rows = _lc_rows(lc_data)
    off = metrics.length_controlled_win_rate(rows, lc_data, mode="off")
    assert off.length_controlled_winrate is None and "eval.lc is off" in off.reason
    with pytest.raises(InputError, match="df_gamed.csv not found"):
        metrics.length_controlled_win_rate(rows, tmp_path)
    bare = metrics.length_controlled_win_rate([{"preference": 1.0}], lc_data)
    assert bare.length_controlled_winrate is None and "generator_2" in bare.reason
    few = metrics.length_controlled_win_rate(rows[:4])
    assert few.length_controlled_winrate is None and "fewer than 5 counted judgments" in few.reason


def test_official_lc_that_does_not_cover_the_rows_falls_back(lc_data: Path, alpaca_eval_data: Path) -> None:
    rows = metrics.load_annotations(
        alpaca_eval_data / "annotations_ae2" / "alpaca-7b.json"
    )  # 805 rows, data for 60
    lc = metrics.length_controlled_win_rate(rows, lc_data)
    assert lc.variant == "offline" and lc.length_controlled_winrate is not None
    assert "official LC not computed: df_gamed.csv covers 60 instructions" in lc.reason


def test_compare_two_real_models(alpaca_eval_data: Path) -> None:
    a = metrics.load_annotations(alpaca_eval_data / "annotations_ae1" / "alpaca-7b.json")
    b = metrics.load_annotations(alpaca_eval_data / "annotations_ae1" / "vicuna-13b.json")
    result = comparison.compare(a, b, n_bootstrap=2000, seed=0)
    assert result.n_shared == result.n_paired == 805
    assert result.difference == pytest.approx(70.4348 - 26.4596, abs=1e-3)
    assert 0 < result.ci_low < result.difference < result.ci_high
    assert result.p_value < 0.01
    assert result.same_reference
    assert comparison.compare(a, b, n_bootstrap=2000, seed=0) == result  # fixed seed, same answer


def test_compare_a_file_with_itself(alpaca_eval_data: Path) -> None:
    a = metrics.load_annotations(alpaca_eval_data / "annotations_ae1" / "text_davinci_001.json")
    result = comparison.compare(a, a, n_bootstrap=500)
    assert result.n_shared == 805 and result.n_paired == 804  # one null preference is not paired
    assert result.difference == 0 and result.ci_low <= 0 <= result.ci_high
    assert result.p_value == 1


def test_compare_needs_shared_unique_instructions() -> None:
    a = [{"instruction": "x", "preference": 1}]
    b = [{"instruction": "y", "preference": 2}]
    with pytest.raises(InputError, match="share no instruction"):
        comparison.compare(a, b, paths=("a.json", "b.json"))
    with pytest.raises(InputError, match=r"a\.json: annotation \[1\] repeats"):
        comparison.compare(a + a, a, paths=("a.json", "b.json"))


def test_paired_bootstrap_is_centred_on_the_difference() -> None:
    rng = np.random.default_rng(1)
    a = [
        {"instruction": str(i), "preference": float(p)}
        for i, p in enumerate(rng.choice([1, 2], 400, p=[0.6, 0.4]))
    ]
    b = [
        {"instruction": str(i), "preference": float(p)}
        for i, p in enumerate(rng.choice([1, 2], 400, p=[0.5, 0.5]))
    ]
    result = comparison.compare(a, b, n_bootstrap=1000, seed=3)
    assert result.ci_low < result.difference < result.ci_high
    assert result.ci_high - result.ci_low < 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"preference": 1}', "expected a JSON list"),
        ('[{"preference": 1}, {"instruction": "x"}]', r"annotation \[1\] has no 'preference'"),
        ('[{"preference": "2"}]', r"annotation \[0\] has preference '2'"),
        ("[3]", r"annotation \[0\] is a int"),
        ("[{", "malformed JSON"),
    ],
)
def test_bad_annotation_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        metrics.load_annotations(path)
    assert str(path) in str(info.value)


def test_null_preferences_are_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "nulls.json"
    path.write_text(json.dumps([{"preference": 2}, {"preference": None}, {"preference": 1}]))
    result = metrics.compute_win_rate([r["preference"] for r in metrics.load_annotations(path)])
    assert result.n_total == 2 and result.win_rate == 50
