"""Can a linear classifier tell two sets of embeddings apart? Cross-validated accuracy and AUC.

Unpaired: logistic regression on the embeddings of A (label 1) and B (label 0), stratified k-fold.
Accuracy near the chance level means the sets look alike to this embedder; the fold-to-fold
std and the binomial sd of a coin-flip classifier are reported next to it so a reader can judge.

Paired: when A and B answer the same instructions, the topic of each instruction is shared noise.
For each instruction i we take d_i = a_i - b_i, label +d_i as 1 and -d_i as 0, and cross-validate
grouped by instruction (both rows of an instruction are in the same fold). The model has no
intercept, so it scores sign(w . (a_i - b_i)): the fraction of instructions on which it tells
which answer came from A. This removes topic and usually separates models much better.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from harness.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np


def _cv_scores(x: np.ndarray, y: np.ndarray, splits: Any, *, fit_intercept: bool, groups: Any = None) -> dict[str, Any]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    accs, aucs = [], []
    for train, test in splits.split(x, y, groups):
        clf = LogisticRegression(max_iter=2000, fit_intercept=fit_intercept)
        clf.fit(x[train], y[train])
        score = clf.decision_function(x[test])
        accs.append(float(np.mean((score > 0) == (y[test] == 1))))
        aucs.append(float(roc_auc_score(y[test], score)))
    return {"accs": accs, "aucs": aucs}


def _summary(accs: list[float], aucs: list[float], chance: float, n_eval: int, folds: int) -> dict[str, Any]:
    import numpy as np

    return {
        "classifier_accuracy": {"mean": float(np.mean(accs)), "std": float(np.std(accs)), "chance": chance,
                                # sd of the accuracy a coin-flipping classifier would get on n_eval items
                                "chance_sd": math.sqrt(chance * (1 - chance) / n_eval), "folds": folds},
        "classifier_auc": {"mean": float(np.mean(aucs)), "std": float(np.std(aucs)), "chance": 0.5, "folds": folds},
    }


def _check(n: int, folds: int, what: str) -> None:
    if n < 2 * folds:
        raise InputError(f"{what}: {n} texts, but {folds}-fold cross-validation needs at least {2 * folds} per set",
                         fix="give more texts, or fewer folds")


def classifier_separability(a: np.ndarray, b: np.ndarray, *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Stratified k-fold logistic regression, A vs B: accuracy and AUC (mean, std over folds, chance)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    _check(min(len(a), len(b)), folds, "classifier")
    x = np.concatenate([a, b]).astype(np.float64)
    y = np.concatenate([np.ones(len(a), dtype=int), np.zeros(len(b), dtype=int)])
    r = _cv_scores(x, y, StratifiedKFold(folds, shuffle=True, random_state=seed), fit_intercept=True)
    chance = max(len(a), len(b)) / len(y)  # always guessing the larger set
    return {**_summary(r["accs"], r["aucs"], chance, len(y), folds), "n": [len(a), len(b)]}


def paired_separability(a: np.ndarray, b: np.ndarray, *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Rows of a and b answer the same instruction: classify a_i - b_i vs b_i - a_i, grouped by instruction."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    if a.shape != b.shape:
        raise ValueError(f"paired sets must have the same shape, got {a.shape} and {b.shape}")
    _check(len(a), folds, "paired classifier")
    d = (a - b).astype(np.float64)
    x = np.concatenate([d, -d])
    y = np.concatenate([np.ones(len(d), dtype=int), np.zeros(len(d), dtype=int)])
    groups = np.concatenate([np.arange(len(d)), np.arange(len(d))])
    # each group holds one row of each label, so grouped folds are also balanced
    splits = GroupKFold(folds, shuffle=True, random_state=seed)
    r = _cv_scores(x, y, splits, fit_intercept=False, groups=groups)
    out = _summary(r["accs"], r["aucs"], 0.5, len(d), folds)  # n_eval = instructions: the two rows agree
    return {"paired_accuracy": out["classifier_accuracy"], "paired_auc": out["classifier_auc"], "n_instructions": len(d)}
