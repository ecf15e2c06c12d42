"""The paired comparison of two models' annotations on the same instructions: the win-rate difference
with a bootstrap interval and a sign-flip permutation p-value (`harness compare`, the positive control).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.core.errors import InputError
from harness.evaluation.metrics import _floats, _scores


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Model B minus model A on the instructions both were judged on (percentage points)."""

    n_shared: int
    n_paired: int
    win_rate_a: float
    win_rate_b: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    test: str
    n_bootstrap: int
    seed: int
    same_reference: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def scores_by_instruction(rows: Sequence[Mapping[str, Any]], path: object = None) -> dict[str, float]:
    """instruction -> model score in [0, 1] (NaN when not counted); a repeated instruction is an error."""
    scores = _scores(_floats([r.get("preference") for r in rows]))
    out: dict[str, float] = {}
    for i, (row, s) in enumerate(zip(rows, scores, strict=True)):
        if row["instruction"] in out:
            raise InputError(
                f"annotation [{i}] repeats an earlier instruction; pairing needs unique instructions",
                path=path,
            )
        out[row["instruction"]] = float(s)
    return out


def compare(
    rows_a: Sequence[Mapping[str, Any]],
    rows_b: Sequence[Mapping[str, Any]],
    *,
    n_bootstrap: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    paths: tuple[object, object] = ("A", "B"),
) -> Comparison:
    """Paired difference in win rate, B - A, with a percentile bootstrap CI and a permutation p-value.

    Rows are paired by instruction; a pair counts when both preferences count. The p-value is a
    two-sided paired (sign-flip) permutation test of the mean score difference
    (`scipy.stats.permutation_test`, `n_bootstrap` resamples, exact when that covers all flips).
    """
    from scipy import stats

    a = scores_by_instruction(rows_a, paths[0])
    b = scores_by_instruction(rows_b, paths[1])
    shared = [k for k in a if k in b]
    if not shared:
        raise InputError(
            f"{paths[0]} and {paths[1]} share no instruction", fix="compare annotations of the same eval set"
        )
    pairs = np.array([(a[k], b[k]) for k in shared if not (math.isnan(a[k]) or math.isnan(b[k]))]).reshape(
        -1, 2
    )
    if len(pairs) == 0:
        raise InputError(
            f"{paths[0]} and {paths[1]} share {len(shared)} instructions but none with both preferences"
        )
    diffs = pairs[:, 1] - pairs[:, 0]

    rng = np.random.default_rng(seed)
    boot = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, 1000):  # in chunks, so memory stays small for any n_bootstrap
        idx = rng.integers(0, len(diffs), size=(min(1000, n_bootstrap - start), len(diffs)))
        boot[start : start + len(idx)] = diffs[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha]) * 100

    def mean_diff(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(y - x, axis=axis)

    test = stats.permutation_test(
        (pairs[:, 0], pairs[:, 1]),
        mean_diff,
        permutation_type="samples",
        n_resamples=n_bootstrap,
        vectorized=True,
        random_state=seed,
    )
    refs = {r.get("generator_1") for r in [*rows_a, *rows_b]}
    return Comparison(
        n_shared=len(shared),
        n_paired=len(pairs),
        win_rate_a=float(pairs[:, 0].mean() * 100),
        win_rate_b=float(pairs[:, 1].mean() * 100),
        difference=float(diffs.mean() * 100),
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        p_value=float(min(1.0, test.pvalue)),
        test="two-sided paired sign-flip permutation test on per-instruction scores (scipy.stats.permutation_test)",
        n_bootstrap=n_bootstrap,
        seed=seed,
        same_reference=len(refs) == 1,
    )
