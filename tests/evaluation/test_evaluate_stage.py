"""The eval stage of an experiment: trained models judged by `@base`, outputs where paths say,
cached by the config-derived fingerprint; and the API judge's cost estimate for `harness run`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _support import run_harness

from harness.core.errors import StageError
from harness.experiment import load_experiment
from harness.stages import evaluate, fingerprints, paths

JUDGE = "local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=2048:@base"
# 4 eval outputs a row are too few for the analysis to compare (refused at load with it on)
SMALL = [
    "analysis.enabled=false",
    "eval.max_instances=4",
    "eval.decoding.max_tokens=8",
    f"eval.judge={JUDGE}",
]


def test_eval_stage_on_the_demo_experiment(tiny_model: Path, tmp_path: Path) -> None:
    exp = load_experiment("demo", SMALL)
    runs = tmp_path / "runs"
    with pytest.raises(StageError, match="run harness train first"):
        evaluate.run(exp, runs, only=["distillation"])

    shutil.copytree(
        tiny_model, paths.trained_model_dir(exp, "distillation", runs)
    )  # stands in for a trained model
    (outcome,) = evaluate.run(exp, runs, only=["distillation"])
    assert not outcome.skipped and outcome.directory == paths.eval_dir(exp, "distillation", runs)
    assert outcome.fingerprint == fingerprints.eval_fingerprint(exp, "distillation")
    m = json.loads((outcome.directory / "metrics.json").read_text(encoding="utf-8"))
    assert (m["n_rows"], m["generator"], m["protocol"]) == (4, "distillation", "alpaca_eval_1")
    assert (
        m["judge"]
        == f"local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=2048:hf:{paths.base_model_dir(exp, runs)}"
    )
    assert m["n_total"] + m["n_parse_failures"] == 4
    outputs = json.loads((outcome.directory / "model_outputs.json").read_text(encoding="utf-8"))
    assert {o["generator"] for o in outputs} == {"distillation"}
    assert paths.request_cache(exp, runs).is_file()
    assert outcome.manifest.stats.win_rate == m["win_rate"]
    # LC on: 4 judgments are too few for alpaca_eval's GLM, and the metrics say so
    assert m["lc_win_rate"] is None and "fewer than 5 counted judgments" in outcome.manifest.stats.lc_reason

    (again,) = evaluate.run(exp, runs, only=["distillation"])
    assert again.skipped
    # other LC settings: a new stage fingerprint, the judgments rescored, nothing generated or judged again
    judged = [(outcome.directory / f).stat().st_mtime_ns for f in ("model_outputs.json", "annotations.json")]
    off = load_experiment("demo", [*SMALL, "eval.lc=off"])
    (rescored,) = evaluate.run(off, runs, only=["distillation"])
    assert (
        not rescored.skipped
        and rescored.fingerprint == fingerprints.eval_fingerprint(off, "distillation") != outcome.fingerprint
    )
    assert rescored.manifest.stats.lc_reason.endswith("eval.lc is off")
    assert [
        (outcome.directory / f).stat().st_mtime_ns for f in ("model_outputs.json", "annotations.json")
    ] == judged
    (outcome,) = evaluate.run(exp, runs, only=["distillation"])  # back to the config the CLI below uses
    assert not outcome.skipped
    proc = run_harness("eval", "--config", "demo", "--only", "distillation", "--runs-dir", str(runs), *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert "eval distillation: cached; win rate" in " ".join(proc.stdout.split())


def test_cost_estimate_for_api_judges_only() -> None:
    assert evaluate.estimate_cost(load_experiment("demo")) is None
    exp = load_experiment(
        "demo", ["eval.judge=alpaca_eval:alpaca_eval_gpt4", "eval.max_instances=10", "analysis.enabled=false"]
    )
    cost = evaluate.estimate_cost(exp)
    n_models = len(exp.datasets)
    assert cost["n_judgments"] == 10 * n_models
    assert cost["price_per_token"] == pytest.approx(0.03 / 1000)
    assert cost["usd"] == pytest.approx(cost["total_tokens"] * 0.03 / 1000, rel=1e-3)
    assert (
        f"{10 * n_models} judgments by alpaca_eval_gpt4 (gpt-4)" in cost["summary"] and "$" in cost["summary"]
    )
