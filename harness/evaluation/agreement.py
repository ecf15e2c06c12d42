"""How often a candidate judge agrees with reference judgments (e.g. a local judge vs GPT-4's).

The candidate re-judges the reference annotations' (instruction, output_1, output_2); both sides'
preferences are read as a choice (below 1.5: output_1, above: output_2, exactly 1.5: draw). The
report holds the agreement rate over the pairs both judged, the 3x3 confusion counts, the
candidate's failures, and for weighted judges the Pearson and Spearman correlation of the raw
preferences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LABELS = ("output_1", "draw", "output_2")


def label(preference: float | None) -> str | None:
    """alpaca_eval's reading of a preference as a choice; None when it does not count."""
    from harness.evaluation.metrics import normalize_preference

    p = normalize_preference(preference)
    if p is None:
        return None
    return "draw" if p == 1.5 else ("output_1" if p < 1.5 else "output_2")


def agreement(
    reference: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Compare two annotation lists row by row (same order, same pairs)."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference rows but {len(candidate)} candidate rows")
    confusion = {r: {c: 0 for c in LABELS} for r in LABELS}
    both: list[tuple[float, float]] = []
    n_ref_missing = n_cand_missing = 0
    for ref, cand in zip(reference, candidate, strict=True):
        lr, lc = label(ref.get("preference")), label(cand.get("preference"))
        if lr is None:
            n_ref_missing += 1
            continue
        if lc is None:
            n_cand_missing += 1
            continue
        confusion[lr][lc] += 1
        both.append((float(ref["preference"]), float(cand["preference"])))
    n = len(both)
    agree = sum(confusion[k][k] for k in LABELS)
    out: dict[str, Any] = {
        "n_rows": len(reference),
        "n_compared": n,
        "n_reference_without_preference": n_ref_missing,
        "n_candidate_failures": n_cand_missing,
        "agreement": agree / n if n else None,
        "confusion": confusion,
        "confusion_layout": "confusion[reference choice][candidate choice]",
        "pearson": None,
        "spearman": None,
    }
    if n >= 3:
        import numpy as np
        from scipy import stats

        a = np.array(both)
        if a[:, 0].std() > 0 and a[:, 1].std() > 0:
            out["pearson"] = float(stats.pearsonr(a[:, 0], a[:, 1]).statistic)
            out["spearman"] = float(stats.spearmanr(a[:, 0], a[:, 1]).statistic)
    return out
