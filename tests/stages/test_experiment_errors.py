"""Bad experiments fail with a clear error before any work starts (nothing written under the runs dir)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import run_harness


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(text, encoding="utf-8")
    return p


BASE = """\
name: bad
base_model: tiny:tiny
seed_data: {source: bundled:demo}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {reference: null}
"""

CASES = {
    "unknown builder": (BASE + "datasets:\n  a: {builder: humpbak}\n", "did you mean 'humpback'"),
    "unknown baseline": (
        BASE + "datasets:\n  a: {builder: baseline, options: {loader: sharegtp}}\n",
        "sharegpt",
    ),
    "unknown backend": (
        BASE.replace("tiny:tiny", "hff:/x") + "datasets:\n  a: {builder: distillation}\n",
        "unknown backend 'hff'",
    ),
    "unknown judge": (
        BASE.replace("weighted_alpaca_eval_gpt4_turbo", "weighted_gpt5")
        + "datasets:\n  a: {builder: distillation}\n",
        "annotator 'weighted_gpt5'",
    ),
    "dataset listed twice": (
        BASE + "datasets:\n  a: {builder: distillation}\n  a: {builder: humpback}\n",
        "duplicate key 'a'",
    ),
    "missing path": (
        BASE.replace("bundled:demo}", "/does/not/exist.jsonl}", 1)
        + "datasets:\n  a: {builder: distillation}\n",
        "does not exist",
    ),
    "unknown tracker": (
        BASE + "train: {recipe: tiny, report_to: [tensorbord]}\ndatasets:\n  a: {builder: distillation}\n",
        "did you mean 'tensorboard'",
    ),
    "missing LC data": (
        BASE.replace('@base"}', '@base", lc_data: /does/not/df_gamed.csv}')
        + "datasets:\n  a: {builder: distillation}\n",
        "'eval.lc_data' (/does/not/df_gamed.csv): ",
    ),
    "unknown recipe key": (
        BASE + "train: {recipe: tiny, learnig_rate: 1}\ndatasets:\n  a: {builder: distillation}\n",
        "did you mean 'train.learning_rate'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_experiment_fails_before_work(tmp_path: Path, case: str):
    text, message = CASES[case]
    cfg = _write(tmp_path, text)
    runs = tmp_path / "runs"
    r = run_harness("run", "--config", str(cfg), "--runs-dir", str(runs), timeout=120)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr, r.stderr
    assert "error" in r.stderr and r.stderr.count("\n") <= 2, r.stderr  # one clear line, no traceback
    assert not runs.exists(), "work started before the experiment was validated"


def test_only_names_an_unknown_dataset(tmp_path: Path):
    r = run_harness(
        "run", "--config", "demo", "--runs-dir", str(tmp_path / "runs"), "--only", "humpbak", "--dry-run"
    )
    assert r.returncode == 2 and "did you mean 'humpback'" in r.stderr, r.stderr
