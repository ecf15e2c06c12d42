"""The length-controlled win rate as the pipeline computes it: alpaca_eval's own GLMs, checked against
alpaca_eval's functions called directly; the config keys eval.lc / eval.lc_data; the fingerprints;
the leaderboard's LC column and notes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import ConfigError
from harness.evaluation import metrics
from harness.experiment import load_experiment
from harness.report import leaderboard
from harness.stages import fingerprints


def _alpaca_eval_minimal_glm(rows: list[dict]) -> float:
    """The oracle: alpaca_eval's GLM without instruction difficulty, assembled from its own pieces
    (its formula, design matrix and fit) on features built here, with no hub file involved."""
    from alpaca_eval.metrics import glm_winrate

    info = glm_winrate.GLM_INFO["length_controlled_minimal"]
    delta = pd.Series([len(r["output_1"]) - len(r["output_2"]) for r in rows], dtype=float)
    df = pd.DataFrame(
        {
            "preference": [float(r["preference"]) - 1 for r in rows],
            "std_delta_len": delta / delta.std(),
            "not_gamed_baseline": True,
        }
    )
    test = pd.DataFrame({"not_gamed_baseline": [True] * len(rows), "std_delta_len": 0})
    train, x_test = glm_winrate.make_dmatrix_for_model(df, test, formula=info["formula"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = glm_winrate.fit_LogisticRegressionCV(
            train[train["preference"].notna()], "preference", is_ytrue_proba=True, **info["kwargs"]
        )
    return float(model.predict_proba(x_test)[:, 1].mean() * 100)


def test_offline_lc_equals_alpaca_eval_on_real_annotations(alpaca_eval_data: Path) -> None:
    rows = metrics.load_annotations(alpaca_eval_data / "annotations_ae2" / "claude-2.json")
    ours = metrics.length_controlled_win_rate(rows)  # no df_gamed.csv: the offline GLM
    assert ours.variant == "offline" and ours.reason is None
    assert ours.to_metrics()["lc_label"] == "LC (offline GLM, own annotations)"
    assert ours.length_controlled_winrate == pytest.approx(_alpaca_eval_minimal_glm(rows), abs=1e-9)
    # claude-2's answers are shorter than the gpt4_1106_preview references: controlling for length raises it
    assert ours.length_controlled_winrate > metrics.compute_win_rate([r["preference"] for r in rows]).win_rate


def test_official_lc_looks_difficulty_up_by_position_in_the_set(lc_data: Path, monkeypatch) -> None:
    """A shuffled subset (eval.max_instances) with each row's position in the whole set gives what
    alpaca_eval gives for those rows at those positions."""
    from alpaca_eval.metrics import glm_winrate

    rows = json.loads((lc_data / "annotations.json").read_text(encoding="utf-8"))
    positions = [int(i) for i in np.random.default_rng(1).permutation(len(rows))[:30]]
    subset = [rows[i] for i in positions]
    ours = metrics.length_controlled_win_rate(subset, lc_data, positions=positions)
    assert ours.variant == "official" and ours.reason is None

    monkeypatch.setattr(
        glm_winrate, "hf_hub_download", lambda repo_id, filename, **_: str(lc_data / filename)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = glm_winrate.get_length_controlled_winrate(
            pd.DataFrame(subset, index=positions), save_weights_dir=None, is_add_glm_preference_inplace=False
        )
    assert ours.length_controlled_winrate == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)
    by_row_order = metrics.length_controlled_win_rate(subset, lc_data)  # positions 0..29: other difficulties
    assert abs(by_row_order.length_controlled_winrate - ours.length_controlled_winrate) > 1e-6


def test_official_data_for_another_baseline_falls_back_to_offline(lc_data: Path) -> None:
    rows = [
        {**r, "generator_1": "text_davinci_003"}
        for r in json.loads((lc_data / "annotations.json").read_text(encoding="utf-8"))
    ]
    lc = metrics.length_controlled_win_rate(
        rows, lc_data / "df_gamed.csv"
    )  # the file itself, not its directory
    assert lc.variant == "offline" and lc.length_controlled_winrate is not None
    assert "official LC not computed: its data is for the gpt4_1106_preview baseline" in lc.reason


def test_lc_config_keys_are_validated_on_load(lc_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_experiment("demo", [f"eval.lc_data={tmp_path / 'df_gamed.csv'}"])
    assert "'eval.lc_data'" in str(missing.value) and "not found" in str(missing.value)
    assert "\n" not in str(missing.value)
    (tmp_path / "bad.csv").write_text("model,index\nx,0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'eval.lc_data'.*lacks the column"):
        load_experiment("demo", [f"eval.lc_data={tmp_path / 'bad.csv'}"])
    with pytest.raises(ConfigError, match="eval.lc"):
        load_experiment("demo", ["eval.lc=on"])


def test_lc_settings_change_the_stage_fingerprint_not_the_judging(lc_data: Path) -> None:
    auto, off, official = (
        load_experiment("demo", o) for o in ([], ["eval.lc=off"], [f"eval.lc_data={lc_data}"])
    )
    name = next(iter(auto.datasets))
    judged = {fingerprints.eval_judged_fingerprint(e, name) for e in (auto, off, official)}
    assert len(judged) == 1  # generation and judging are not redone for other LC settings
    assert len({fingerprints.eval_fingerprint(e, name) for e in (auto, off, official)}) == 3


def test_leaderboard_says_which_lc_and_why_not() -> None:
    board = {
        "experiment": "x",
        "description": "",
        "base_model": "tiny:tiny",
        "judge": "j",
        "protocol": "p",
        "experiment_fingerprint": "f",
        "git_commit": "c",
        "missing_eval": [],
        "analysis": {},
        "rows": [
            {
                "dataset": "a",
                "win_rate": 40.0,
                "lc_win_rate": 45.0,
                "lc_variant": leaderboard._lc_variant({"lc_win_rate": 45.0, "lc_label": "LC (official)"}),
            },
            {
                "dataset": "b",
                "win_rate": 30.0,
                "lc_win_rate": None,
                "lc_variant": leaderboard._lc_variant({"lc_win_rate": None, "lc_reason": "r"}),
                "lc_note": "length-controlled win rate not computed: eval.lc is off",
            },
        ],
    }
    md = leaderboard.markdown(board)
    assert "| LC win rate % | LC variant |" in md
    assert "| 45.00 | official |" in md and "| - | none |" in md
    assert "- LC official: alpaca_eval's leaderboard GLM (length_controlled_v1)" in md
    assert "- b: length-controlled win rate not computed: eval.lc is off." in md
    from harness.report.html import html_page

    page = html_page(board)
    assert (
        "<th>LC variant</th>" in page
        and "<li>b: length-controlled win rate not computed: eval.lc is off.</li>" in page
    )
    assert "lc_variant" in leaderboard.csv_text(board).splitlines()[0]
