"""The positive control's verdict: does the loop find the differences that are known to be there?

Given the annotations of each row of the control experiment, `verdict` runs the paired test
(`comparison.compare`: per-instruction scores on the same eval instructions, sign-flip permutation
p-value) on each neighbouring pair of the expected order, which must come out significantly in
that order, and on each negative-control pair (one dataset, two training seeds), which must come
out not different. It returns every comparison with its reading, so a failure names the pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.evaluation.comparison import compare

ALPHA = 0.05


def verdict(
    annotations: Mapping[str, Sequence[Mapping[str, Any]]],
    order: Sequence[str],
    same: Sequence[tuple[str, str]],
    *,
    alpha: float = ALPHA,
    n_bootstrap: int = 5000,
) -> dict[str, Any]:
    """{"ok", "order": [...], "same": [...]}: each entry a comparison (B - A, points) and whether it passed."""
    checks = []
    for better, worse in zip(order, order[1:]):
        c = compare(annotations[worse], annotations[better], n_bootstrap=n_bootstrap, paths=(worse, better))
        checks.append(
            {
                "kind": "order",
                "better": better,
                "worse": worse,
                **c.to_dict(),
                "passed": c.difference > 0 and c.p_value < alpha,
            }
        )
    for a, b in same:
        c = compare(annotations[a], annotations[b], n_bootstrap=n_bootstrap, paths=(a, b))
        checks.append({"kind": "same", "a": a, "b": b, **c.to_dict(), "passed": c.p_value >= alpha})
    return {"ok": all(c["passed"] for c in checks), "alpha": alpha, "checks": checks}


def describe(check: Mapping[str, Any]) -> str:
    """One line per comparison, for a test failure or the README."""
    if check["kind"] == "order":
        head = f"{check['better']} > {check['worse']}"
    else:
        head = f"{check['a']} ~ {check['b']} (negative control)"
    return (
        f"{head}: {check['win_rate_b']:.1f} vs {check['win_rate_a']:.1f}, difference {check['difference']:+.1f} "
        f"[{check['ci_low']:+.1f}, {check['ci_high']:+.1f}], p={check['p_value']:.4f}, n={check['n_paired']}: "
        + ("pass" if check["passed"] else "FAIL")
    )
