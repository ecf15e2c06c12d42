"""Can a linear classifier tell two sets of embeddings apart? Cross-validated accuracy and AUC with intervals.

Unpaired: logistic regression on the embeddings of A (label 1) and B (label 0). When the two sets
answer some of the same instructions (two models on one eval set, rewritten vs distilled answers)
the folds are grouped by instruction (scikit-learn's `StratifiedGroupKFold`): both answers to an
instruction sit on the same side of every split. Stratified folds would put instruction i's answer
from A in training and its answer from B in the test fold; the embedding is dominated by topic, so
the classifier learns "this topic was A" and scores the test answer wrongly, below chance (measured
on real AlpacaEval outputs: 0.45 instead of 0.57). Sets with no instruction in common keep
`StratifiedKFold`. The result names the CV it used.

Paired: when A and B answer the same instructions, the topic of each instruction is shared noise.
For each instruction i we take d_i = a_i - b_i, label +d_i as 1 and -d_i as 0, and cross-validate
grouped by instruction. The model has no intercept, so it scores sign(w . (a_i - b_i)): the fraction
of instructions on which it tells which answer came from A. Under "A and B are alike" its expected
accuracy is exactly 0.5 (the labels are symmetric by construction).

Every score is the mean over the folds of the per-fold score, with a bootstrap interval: the test
items of each fold are resampled by instruction group (the fitted models stay fixed), the fold
scores averaged, `bootstrap` times; `ci` is the 2.5-97.5 percentile range and `se` the bootstrap sd.
It covers the sampling noise of the test items, not the refit of the model, which is what the
noise floor (the same classifier on two halves of one set, `report.py`) is there to show.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

STRATIFIED = "stratified"
GROUPED = "grouped by instruction"
DEFAULT_BOOTSTRAP = 1000


def instruction_groups(ins_a: Sequence[str], ins_b: Sequence[str]) -> tuple[np.ndarray, int]:
    """A group id for each row of A then B (same stripped instruction, same group), and how many are in both.

    An empty instruction is its own group: it pairs nothing.
    """
    import numpy as np

    ids: dict[str, int] = {}
    groups = np.empty(len(ins_a) + len(ins_b), dtype=np.int64)
    for row, ins in enumerate([*ins_a, *ins_b]):
        key = ins.strip()
        groups[row] = ids.setdefault(key, len(ids)) if key else -1 - row
    shared = len({i.strip() for i in ins_a if i.strip()} & {i.strip() for i in ins_b if i.strip()})
    return groups, shared


def weighted_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC AUC of `score` for labels `y` under item weights `w` (one row of weights per resample).

    The probability that a positive outranks a negative, ties counted as half, computed on the
    sorted scores for every row of `w` at once. NaN where a row weighs no positive or no negative.
    """
    import numpy as np

    w = np.atleast_2d(w)
    order = np.argsort(score, kind="stable")
    s_sorted = score[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])  # blocks of tied scores
    pos = np.add.reduceat(w[:, order] * (y[order] == 1), starts, axis=1)
    neg = np.add.reduceat(w[:, order] * (y[order] != 1), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(1) / (pos.sum(1) * neg.sum(1))


def _bootstrap_folds(
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], reps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap distributions of the fold-mean accuracy and AUC, resampling each fold's test groups.

    Each fold is (labels, decision scores, group ids) of its test items. A resample draws the
    fold's groups with replacement; an item's weight is how often its group was drawn.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    accs, aucs = [], []
    for y, score, g in folds:
        _, inv = np.unique(g, return_inverse=True)
        n_groups = int(inv.max()) + 1
        counts = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=reps).astype(np.float64)
        w = counts[:, inv]  # reps x items
        correct = ((score > 0) == (y == 1)).astype(np.float64)
        accs.append(w @ correct / w.sum(1))
        aucs.append(weighted_auc(y, score, w))
    return np.mean(accs, axis=0), np.nanmean(aucs, axis=0)


def _measure(
    values: list[float], boot: np.ndarray, chance: float, n_eval: int, folds: int, cv: str
) -> dict[str, Any]:
    import numpy as np

    boot = boot[np.isfinite(boot)]
    lo, hi = (
        (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))) if boot.size else (math.nan,) * 2
    )
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "ci": [lo, hi],
        "se": float(np.std(boot)) if boot.size else math.nan,
        "chance": chance,
        # sd of the accuracy a coin-flipping classifier would get on n_eval items
        "chance_sd": math.sqrt(chance * (1 - chance) / n_eval),
        "folds": folds,
        "cv": cv,
        "interval": f"bootstrap over test items by instruction ({boot.size} resamples), 2.5-97.5 %",
    }


@dataclasses.dataclass(frozen=True)
class _Problem:
    """What `_cross_validate` fits and how its scores are read: rows, labels, the group of each row."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    fit_intercept: bool
    chance: float  # the accuracy of a classifier that ignores the features
    n_eval: int  # independent items scored, for the chance sd


def _cross_validate(
    problem: _Problem, splits: Any, *, folds: int, cv: str, bootstrap: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x, y, groups = problem.x, problem.y, problem.groups
    accs, aucs, held_out = [], [], []
    for train, test in splits.split(x, y, groups if cv == GROUPED else None):
        clf = LogisticRegression(max_iter=2000, fit_intercept=problem.fit_intercept)
        clf.fit(x[train], y[train])
        score = clf.decision_function(x[test])
        accs.append(float(np.mean((score > 0) == (y[test] == 1))))
        aucs.append(float(roc_auc_score(y[test], score)))
        held_out.append((y[test], score, groups[test]))
    boot_acc, boot_auc = _bootstrap_folds(held_out, bootstrap, seed)
    return (
        _measure(accs, boot_acc, problem.chance, problem.n_eval, folds, cv),
        {**_measure(aucs, boot_auc, 0.5, problem.n_eval, folds, cv), "chance_sd": None},
    )


def _check(n: int, folds: int, what: str) -> None:
    if n < 2 * folds:
        raise InputError(
            f"{what}: {n} texts, but {folds}-fold cross-validation needs at least {2 * folds} per set",
            fix="give more texts, or fewer folds",
        )


def classifier_separability(
    a: np.ndarray,
    b: np.ndarray,
    *,
    instructions_a: Sequence[str] | None = None,
    instructions_b: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
) -> dict[str, Any]:
    """Logistic regression A vs B: accuracy and AUC (fold mean, fold std, bootstrap interval, chance).

    With the instructions of both sets given, folds are grouped by instruction whenever an
    instruction occurs more than once across the two sets (shared, or repeated within one);
    otherwise stratified.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    _check(min(len(a), len(b)), folds, "classifier")
    x = np.concatenate([a, b]).astype(np.float64)
    y = np.concatenate([np.ones(len(a), dtype=int), np.zeros(len(b), dtype=int)])
    shared = 0
    if instructions_a is not None and instructions_b is not None:
        groups, shared = instruction_groups(instructions_a, instructions_b)
    else:
        groups = np.arange(len(y))
    repeated = len(np.unique(groups)) < len(groups)
    if repeated:
        cv, splits = GROUPED, StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    else:
        cv, splits = STRATIFIED, StratifiedKFold(folds, shuffle=True, random_state=seed)
    chance = max(len(a), len(b)) / len(y)  # always guessing the larger set
    problem = _Problem(x, y, groups, fit_intercept=True, chance=chance, n_eval=len(y))
    acc, auc = _cross_validate(problem, splits, folds=folds, cv=cv, bootstrap=bootstrap, seed=seed)
    return {
        "classifier_accuracy": acc,
        "classifier_auc": auc,
        "n": [len(a), len(b)],
        "cv": {"kind": cv, "folds": folds, "shared_instructions": shared},
    }


def paired_separability(
    a: np.ndarray, b: np.ndarray, *, folds: int = 5, seed: int = 0, bootstrap: int = DEFAULT_BOOTSTRAP
) -> dict[str, Any]:
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
    # n_eval = instructions: the two rows of an instruction always agree
    problem = _Problem(x, y, groups, fit_intercept=False, chance=0.5, n_eval=len(d))
    acc, auc = _cross_validate(problem, splits, folds=folds, cv=GROUPED, bootstrap=bootstrap, seed=seed)
    return {"paired_accuracy": acc, "paired_auc": auc, "n_instructions": len(d)}
