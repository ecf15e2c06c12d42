"""Helpers the tests import (conftest.py holds fixtures): the project root and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

PROJECT_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def run_harness(*args: str, timeout: float = 600, env: dict[str, str] | None = None, **kwargs):
    """Run the real `harness` CLI in a subprocess (`python -m harness.cli`)."""
    import os
    import subprocess
    import sys

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        env=full_env,
        **kwargs,
    )


def write_prompts(path: Path, n: int, *, seed: int = 0) -> Path:
    """`n` instruction prompts (from stdlib docstrings) as a JSONL file."""
    from harness.backends.tiny_model import sample_prompts

    path.write_text("".join(json.dumps(p) + "\n" for p in sample_prompts(n, seed=seed)), encoding="utf-8")
    return path


# ---------------------------------------------------------------- alpaca_eval's length-controlled GLM
def write_lc_data(out: Path, n: int, seed: int = 0) -> Path:
    """Synthetic df_gamed.csv and instruction_difficulty.csv in alpaca_eval's shapes for an eval set of
    `n` instructions, plus `annotations.json`: a model against gpt4_1106_preview on them, where the
    longer output tends to win."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=n)
    # df_gamed: the baseline's verbose and concise variants judged against the baseline itself.
    # The first variant's rows 0..n-1 carry the labels alpaca_eval uses to look difficulty up.
    gamed = []
    for model in ("baseline_verbose", "baseline_concise"):
        delta = rng.normal(size=n)
        gamed.append(
            pd.DataFrame(
                {
                    "model": model,
                    "index": np.arange(n),
                    "preference": 1 / (1 + np.exp(-(delta + difficulty))),
                    "std_delta_len": delta,
                    "instruction_difficulty": difficulty,
                    "not_gamed_baseline": False,
                }
            )
        )
    pd.concat(gamed, ignore_index=True).to_csv(out / "df_gamed.csv", index=False)
    pd.Series(difficulty, index=pd.RangeIndex(n, name="index"), name="instruction_difficulty").to_csv(
        out / "instruction_difficulty.csv"
    )
    rows = []
    for i in range(n):
        len_1, len_2 = (int(x) for x in rng.integers(10, 500, size=2))
        rows.append(
            {
                "instruction": f"question {i}",
                "output_1": "a" * len_1,
                "output_2": "b" * len_2,
                "preference": float(1 + 1 / (1 + np.exp(-(len_2 - len_1) / 100 - difficulty[i]))),
                "generator_1": "gpt4_1106_preview",
                "generator_2": "model",
                "annotator": "synthetic",
            }
        )
    (out / "annotations.json").write_text(json.dumps(rows), encoding="utf-8")
    return out


# ---------------------------------------------------------------- AlpacaEval 2.0's weighted preference
AE2_ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"


def weighted_preference(raw_completion, *, switched: bool = False, annotator: str = AE2_ANNOTATOR) -> float:
    """The test oracle for AlpacaEval 2.0's preference, 2 - P("m") / (P("m") + P("M")), from a stored
    raw completion (an OpenAI choice, as a dict or its Python repr, read with `ast.literal_eval`),
    by alpaca_eval's own logprob parser with the annotator's own arguments. `switched` maps the
    judge's shown order back to the file's (3 - p). NaN when neither token is in the top logprobs."""
    import ast
    from collections.abc import Mapping

    from harness.evaluation.judges import load_annotator
    from harness.evaluation.metrics import _alpaca_eval

    completion = raw_completion
    if isinstance(completion, str):
        try:
            completion = ast.literal_eval(completion)
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"raw_completion is not a Python literal: {e}") from None
    if not isinstance(completion, Mapping):
        raise ValueError(f"raw_completion must be a dict, got {type(completion).__name__}")
    cfg = load_annotator(annotator)
    try:
        (pref,) = _alpaca_eval("completion_parsers").logprob_parser(dict(completion), **cfg.parser_kwargs)
    except (AssertionError, KeyError, TypeError, IndexError):
        raise ValueError("raw_completion is not an OpenAI choice with top logprobs") from None
    return float(3 - pref if switched else pref)


def recompute_preference(row, *, seed: int = 0, annotator: str = AE2_ANNOTATOR) -> float:
    """An AE 2.0 annotation's preference recomputed from its raw completion, in the file's order;
    identical outputs are 1.5 without a judge call, as alpaca_eval does."""
    from harness.evaluation.metrics import alpaca_eval_switched

    if row["output_1"] == row["output_2"]:
        return 1.5
    if row.get("raw_completion") is None:
        raise ValueError("the annotation has no raw_completion")
    return weighted_preference(
        row["raw_completion"], switched=alpaca_eval_switched(row["instruction"], seed), annotator=annotator
    )


def engine_starts(build_dir: Path) -> dict[str, int]:
    """Engine starts per model over the build manifests under `build_dir` (one per dataset)."""
    starts: dict[str, int] = {}
    for manifest in sorted(build_dir.glob("*/manifest.json")):
        stats = json.loads(manifest.read_text())["stats"]
        assert "engine_starts" in stats, manifest
        for label, c in stats["engines"].items():
            starts[label] = starts.get(label, 0) + c["starts"]
    return starts


def substage_models(build_dir: Path, backend: str = "hf") -> set[str]:
    """The backend specs of the sub-stage models (backward, seed model, ...) the builds used."""
    models = set()
    for manifest in build_dir.glob("*/manifest.json"):
        for sub in json.loads(manifest.read_text())["stats"].get("substages", {}).values():
            models.add(f"{backend}:{Path(sub['directory']) / 'model'}")
    return models
