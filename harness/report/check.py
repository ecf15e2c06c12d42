"""The regression check: a leaderboard against a stored baseline, metric by metric, within tolerances.

A row that appears or disappears is a change; a metric moves when |new - old| exceeds its absolute
tolerance (a per-metric default, or `--tolerance KEY=VALUE`). Identity columns (source, judge,
protocol, base model, which LC variant) must match exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.core.config import did_you_mean
from harness.core.errors import ConfigError

# absolute tolerances; win rates in percentage points
DEFAULT_TOLERANCES: dict[str, float] = {
    "records": 0,
    "training_tokens": 0,
    "win_rate": 2.0,
    "standard_error": 1.0,
    "lc_win_rate": 2.0,
    "oracle_accuracy": 2.0,
    "discrete_win_rate": 2.0,
    "avg_output_length": 10.0,
    "mauve_vs_reference": 0.05,
    "unique_trigrams_per_1k": 5.0,
    "contamination_hits": 0,
    "n_eval": 0,
    "n_trained": 0,
}
EXACT = ("source", "judge", "protocol", "base_model", "lc_variant", "assembly", "eval_tags")


@dataclasses.dataclass(frozen=True)
class Change:
    dataset: str
    key: str
    baseline: Any
    current: Any
    tolerance: float | None
    kind: str  # moved | changed | appeared | disappeared

    def describe(self) -> str:
        if self.kind in ("appeared", "disappeared"):
            return f"{self.dataset}: row {self.kind}"
        return f"{self.dataset}.{self.key}: {self.baseline} -> {self.current} (tolerance {self.tolerance})"


def parse_tolerances(items: Sequence[str]) -> dict[str, float]:
    out = dict(DEFAULT_TOLERANCES)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--tolerance '{item}' is not KEY=VALUE", fix="for example --tolerance win_rate=3")
        if key not in DEFAULT_TOLERANCES:
            raise ConfigError(f"--tolerance: unknown metric '{key}'",
                              fix=did_you_mean(key, DEFAULT_TOLERANCES, otherwise=f"metrics: {', '.join(DEFAULT_TOLERANCES)}"))
        try:
            out[key] = float(value)
        except ValueError:
            raise ConfigError(f"--tolerance {key}: '{value}' is not a number") from None
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any], tolerances: Mapping[str, float]) -> list[Change]:
    cur = {r["dataset"]: r for r in current["rows"]}
    base = {r["dataset"]: r for r in baseline["rows"]}
    changes: list[Change] = []
    for name in sorted(base.keys() - cur.keys()):
        changes.append(Change(name, "", None, None, None, "disappeared"))
    for name in sorted(cur.keys() - base.keys()):
        changes.append(Change(name, "", None, None, None, "appeared"))
    for name in sorted(cur.keys() & base.keys()):
        a, b = base[name], cur[name]
        for key in EXACT:
            if a.get(key) != b.get(key):
                changes.append(Change(name, key, a.get(key), b.get(key), None, "changed"))
        for key, tol in tolerances.items():
            old, new = a.get(key), b.get(key)
            if _missing(old) and _missing(new):
                continue
            if _missing(old) != _missing(new):
                changes.append(Change(name, key, old, new, tol, "changed"))
            elif abs(float(new) - float(old)) > tol + 1e-9:
                changes.append(Change(name, key, old, new, tol, "moved"))
    return changes
