"""The regression check: a leaderboard against a stored baseline, metric by metric, within tolerances.

A row that appears or disappears is a change; a metric moves when |new - old| exceeds its absolute
tolerance (a per-metric default, or `--tolerance KEY=VALUE`). Identity columns (source, judge,
protocol, base model, which LC variant) must match exactly.

Measured noise: `noise.json` beside the baseline (`{"rows": {dataset: {metric: spread}}}`, the
max - min of each figure over the runs the baseline was made from, e.g. 1-2 OpenMP threads x
default/avx2 kernels) widens a metric's tolerance for that row to the measured spread, so a
figure that moves by numerics alone is judged "within noise" and anything beyond it "moved". Exact
metrics (tolerance 0) stay exact unless the measurement saw them vary.
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
    "tags_per_instruction": 0.2,
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
    noise: float | None = None  # the measured spread it was judged against, when there is one

    def describe(self) -> str:
        if self.kind in ("appeared", "disappeared"):
            return f"{self.dataset}: row {self.kind}"
        noise = "" if self.noise is None else f", measured noise {self.noise}"
        return f"{self.dataset}.{self.key}: {self.baseline} -> {self.current} (tolerance {self.tolerance}{noise})"


def parse_tolerances(items: Sequence[str]) -> dict[str, float]:
    out = dict(DEFAULT_TOLERANCES)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(
                f"--tolerance '{item}' is not KEY=VALUE", fix="for example --tolerance win_rate=3"
            )
        if key not in DEFAULT_TOLERANCES:
            raise ConfigError(
                f"--tolerance: unknown metric '{key}'",
                fix=did_you_mean(
                    key, DEFAULT_TOLERANCES, otherwise=f"metrics: {', '.join(DEFAULT_TOLERANCES)}"
                ),
            )
        try:
            out[key] = float(value)
        except ValueError:
            raise ConfigError(f"--tolerance {key}: '{value}' is not a number") from None
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def parse_noise(data: Any, source: str) -> dict[str, dict[str, float]]:
    """`noise.json`'s rows: {dataset: {metric: spread >= 0}}; bad input names the key."""
    if not isinstance(data, dict) or not isinstance(data.get("rows"), dict):
        raise ConfigError(
            f"{source}: no 'rows' mapping", fix='write {"rows": {"<dataset>": {"<metric>": <spread>}}}'
        )
    out: dict[str, dict[str, float]] = {}
    for name, metrics in data["rows"].items():
        if not isinstance(metrics, dict):
            raise ConfigError(f"{source}: rows.{name} is not a mapping of metric to spread")
        for key, value in metrics.items():
            if key not in DEFAULT_TOLERANCES:
                raise ConfigError(
                    f"{source}: rows.{name}.{key}: unknown metric",
                    fix=did_you_mean(
                        key, DEFAULT_TOLERANCES, otherwise=f"metrics: {', '.join(DEFAULT_TOLERANCES)}"
                    ),
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
                or math.isnan(value)
            ):
                raise ConfigError(f"{source}: rows.{name}.{key}: {value!r} is not a spread >= 0")
            out.setdefault(name, {})[key] = float(value)
    return out


def compare(
    current: Mapping[str, Any],
    baseline: Mapping[str, Any],
    tolerances: Mapping[str, float],
    noise: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Change]:
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
        row_noise = (noise or {}).get(name, {})
        for key, tol in tolerances.items():
            old, new = a.get(key), b.get(key)
            measured = row_noise.get(key)
            if measured is not None:
                tol = max(tol, measured)
            if _missing(old) and _missing(new):
                continue
            if _missing(old) != _missing(new):
                changes.append(Change(name, key, old, new, tol, "changed", measured))
            elif abs(float(new) - float(old)) > tol + 1e-9:
                changes.append(Change(name, key, old, new, tol, "moved", measured))
    return changes


def measure_noise(boards: Sequence[Mapping[str, Any]], about: str = "") -> dict[str, Any]:
    """`noise.json` from leaderboards of the same experiment run under different settings (threads,
    kernel sets, backends): per row and tolerance metric, max - min over the boards, listed only
    where it is above the float last bits (1e-4). The row sets must agree: a row one setting lacks
    is a broken run, not noise."""
    if len(boards) < 2:
        raise ConfigError(f"noise needs at least two leaderboards, got {len(boards)}")
    sets = [sorted(r["dataset"] for r in b["rows"]) for b in boards]
    if any(s != sets[0] for s in sets):
        raise ConfigError(
            f"the leaderboards' row sets differ: {sets}", fix="rerun the settings that lack rows"
        )
    rows: dict[str, dict[str, float]] = {}
    for name in sets[0]:
        vals = [next(r for r in b["rows"] if r["dataset"] == name) for b in boards]
        for key in DEFAULT_TOLERANCES:
            xs = [float(v[key]) for v in vals if not _missing(v.get(key))]
            if len(xs) == len(vals) and max(xs) - min(xs) > 1e-4:
                rows.setdefault(name, {})[key] = round(max(xs) - min(xs), 4)
    return {"about": about, "rows": rows}
