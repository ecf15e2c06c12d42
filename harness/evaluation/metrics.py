"""AlpacaEval metrics on annotation files: win rate ± SE, discrete and length-controlled win rate,
paired comparisons between two models.

An annotation file is alpaca_eval's output: a JSON list of objects with `instruction`, `output_1`
(reference), `output_2` (model), `generator_1/2` and `preference` (1 = reference wins, 2 = model
wins, 1.5 = draw, a float in between for weighted judges). The win rate follows
`alpaca_eval.metrics.get_winrate` exactly, including its legacy rules: 0 is read as a draw, and
null, NaN or anything outside [1, 2] is not counted. The length-controlled win rate runs
alpaca_eval's own GLM (`alpaca_eval.metrics.glm_winrate`) on local copies of its hub files.
alpaca_eval, scipy and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import InputError
from harness.core.io import read_json

log = logging.getLogger(__name__)

# df_gamed.csv is the one hub file alpaca_eval's GLM reads when it is not asked to re-baseline.
GAMED_COLUMNS = ("model", "index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline")
LC_HINT = ("download df_gamed.csv (and instruction_difficulty.csv) from the tatsu-lab/alpaca_eval dataset "
           "on the Hugging Face hub into a directory and pass it as --lc-data")


def _alpaca_eval(module: str) -> Any:
    """Import an alpaca_eval module without letting it change the logging level.

    Importing alpaca_eval sets the root logger to INFO, which would flood the CLI with INFO lines.
    """
    root = logging.getLogger()
    level = root.level
    try:
        return importlib.import_module(f"alpaca_eval.{module}")
    finally:
        root.setLevel(level)


# ---------------------------------------------------------------- loading
def load_annotations(path: str | os.PathLike[str], fields: Sequence[str] = ("preference",)) -> list[dict[str, Any]]:
    """Read an alpaca_eval annotations file; every row must be an object with `fields`.

    `preference` must be a number or null (null rows are kept and later not counted).
    """
    rows = read_json(path)
    if not isinstance(rows, list):
        raise InputError(f"expected a JSON list of annotation objects, got {type(rows).__name__}", path=path,
                         fix="pass an alpaca_eval annotations.json")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"annotation [{i}] is a {type(row).__name__}, not an object", path=path)
        missing = [f for f in fields if f not in row]
        if missing:
            raise InputError(f"annotation [{i}] has no {', '.join(map(repr, missing))}", path=path)
        pref = row.get("preference")
        if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))):
            raise InputError(f"annotation [{i}] has preference {pref!r}; expected a number or null", path=path)
    return rows


def _floats(preferences: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if p is None else float(p) for p in preferences], dtype=float)


def normalize_preference(preference: Any) -> float | None:
    """A preference as alpaca_eval counts it: 0 (its legacy draw) is 1.5; null, NaN, non-numbers and
    anything outside [1, 2] do not count (None)."""
    if preference is None or isinstance(preference, bool) or not isinstance(preference, (int, float)):
        return None
    p = 1.5 if preference == 0 else float(preference)
    return p if 1 <= p <= 2 else None  # NaN fails both comparisons


def uncounted_preferences(preferences: Sequence[Any]) -> dict[str, int]:
    """Why rows do not count, by reason: null, NaN, or outside [1, 2] (0 is a draw and counts)."""
    out: dict[str, int] = {}
    for p in preferences:
        if normalize_preference(p) is not None:
            continue
        reason = ("null" if p is None else "NaN" if isinstance(p, float) and math.isnan(p)
                  else "outside [1, 2]")
        out[reason] = out.get(reason, 0) + 1
    return out


def _scores(raw: np.ndarray) -> np.ndarray:
    """Per-row model score in [0, 1] (0.5 = draw); NaN where alpaca_eval does not count the row."""
    counted = [normalize_preference(p) for p in raw.tolist()]
    return np.array([np.nan if p is None else p - 1 for p in counted], dtype=float)


# ---------------------------------------------------------------- win rate
@dataclasses.dataclass(frozen=True)
class WinRate:
    """alpaca_eval's head-to-head summary; rates and SE in percent."""

    win_rate: float
    standard_error: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n_total: int
    discrete_win_rate: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _mean_sem(x: np.ndarray) -> tuple[float, float]:
    if x.size == 0:
        return math.nan, math.nan
    sem = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()) * 100, sem * 100


def compute_win_rate(preferences: Sequence[float | None]) -> WinRate:
    """Win rate as `alpaca_eval.metrics.get_winrate` computes it (the leaderboard's numbers)."""
    raw = _floats(preferences)
    scores = _scores(raw)
    counted = scores[~np.isnan(scores)]
    win_rate, se = _mean_sem(counted)
    # Discrete: an exact 1.5 stays a draw, everything else is rounded to the nearer side first.
    discrete = _scores(np.where(raw == 1.5, 0.0, np.round(raw)))
    discrete_rate, _ = _mean_sem(discrete[~np.isnan(discrete)])
    return WinRate(
        win_rate=win_rate,
        standard_error=se,
        n_wins=int((counted > 0.5).sum()),
        n_wins_base=int((counted < 0.5).sum()),
        # alpaca_eval counts draws before it drops the rows that are not preferences
        n_draws=int(((raw == 1.5) | (raw == 0)).sum()),
        n_total=int(counted.size),
        discrete_win_rate=discrete_rate,
    )


# ---------------------------------------------------------------- length-controlled win rate
@dataclasses.dataclass(frozen=True)
class LengthControlled:
    """alpaca_eval's length-controlled win rate (percent), or None with the reason why not."""

    length_controlled_winrate: float | None
    lc_standard_error: float | None
    reason: str | None = None


def length_controlled_win_rate(rows: Sequence[Mapping[str, Any]], lc_data: str | os.PathLike[str] | None,
                               glm_name: str = "length_controlled_v1") -> LengthControlled:
    """Run `alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate` offline.

    alpaca_eval fetches `df_gamed.csv` (the GLM's regularisation data for the gpt4_1106_preview
    baseline) from the hub; here it is served from `lc_data` instead, and nothing is written into
    site-packages. Like alpaca_eval, the rows must be in the AlpacaEval set's order: the GLM looks
    instruction difficulty up by row position.
    """
    if lc_data is None:
        return LengthControlled(None, None, f"length-controlled win rate not computed: no LC data given; {LC_HINT}")
    lc_dir = Path(lc_data)
    gamed_path = lc_dir / "df_gamed.csv"
    if not gamed_path.is_file():
        return LengthControlled(None, None, f"length-controlled win rate not available: {gamed_path} not found; "
                                            f"{LC_HINT}")
    needed = ("output_1", "output_2", "generator_1", "generator_2")
    if any(f not in row for row in rows for f in needed):
        return LengthControlled(None, None, "length-controlled win rate not available: the annotations lack "
                                            f"{', '.join(needed)}")
    from unittest import mock

    import pandas as pd
    glm_winrate = _alpaca_eval("metrics.glm_winrate")

    def local_file(repo_id: str, filename: str, **_: Any) -> str:
        path = lc_dir / filename
        if not path.is_file():
            raise InputError(f"alpaca_eval's GLM needs {filename}, which is not there", path=lc_dir, fix=LC_HINT)
        return str(path)

    try:
        gamed = pd.read_csv(gamed_path)
    except (ValueError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
        raise InputError(f"unreadable CSV: {e}", path=gamed_path) from None
    lacking = [c for c in GAMED_COLUMNS if c not in gamed.columns]
    if lacking:
        raise InputError(f"lacks the column(s) {', '.join(lacking)}", path=gamed_path,
                         fix="use alpaca_eval's df_gamed.csv from the hub")
    if len(rows) > gamed["index"].nunique():  # the GLM reads difficulty by row position
        raise InputError(f"covers {gamed['index'].nunique()} instructions but the annotations have {len(rows)} rows",
                         path=gamed_path, fix="LC needs annotations of the AlpacaEval set, in its order")

    log.info("length-controlled win rate: alpaca_eval GLM %s with the data in %s", glm_name, lc_dir)
    df = pd.DataFrame.from_records(list(rows))
    # pandas cannot hold None in a float column; alpaca_eval expects NaN there
    df["preference"] = _floats(df["preference"].tolist())
    # alpaca_eval has no argument for a local copy of its hub files, so its downloader is swapped
    # for the duration of the call
    with mock.patch.object(glm_winrate, "hf_hub_download", local_file), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sklearn deprecations inside alpaca_eval's GLM
        out = glm_winrate.get_length_controlled_winrate(df, glm_name=glm_name, save_weights_dir=None,
                                                        is_add_glm_preference_inplace=False)
    return LengthControlled(float(out["length_controlled_winrate"]), float(out["lc_standard_error"]))


# ---------------------------------------------------------------- paired comparison
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
            raise InputError(f"annotation [{i}] repeats an earlier instruction; pairing needs unique instructions",
                             path=path)
        out[row["instruction"]] = float(s)
    return out


def compare(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]], *,
            n_bootstrap: int = 10_000, seed: int = 0, confidence: float = 0.95,
            paths: tuple[object, object] = ("A", "B")) -> Comparison:
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
        raise InputError(f"{paths[0]} and {paths[1]} share no instruction", fix="compare annotations of the same eval set")
    pairs = np.array([(a[k], b[k]) for k in shared if not (math.isnan(a[k]) or math.isnan(b[k]))]).reshape(-1, 2)
    if len(pairs) == 0:
        raise InputError(f"{paths[0]} and {paths[1]} share {len(shared)} instructions but none with both preferences")
    diffs = pairs[:, 1] - pairs[:, 0]

    rng = np.random.default_rng(seed)
    boot = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, 1000):  # in chunks, so memory stays small for any n_bootstrap
        idx = rng.integers(0, len(diffs), size=(min(1000, n_bootstrap - start), len(diffs)))
        boot[start:start + len(idx)] = diffs[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha]) * 100

    def mean_diff(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(y - x, axis=axis)

    test = stats.permutation_test((pairs[:, 0], pairs[:, 1]), mean_diff, permutation_type="samples",
                                  n_resamples=n_bootstrap, vectorized=True, random_state=seed)
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


# ---------------------------------------------------------------- alpaca_eval's position randomisation
def alpaca_eval_switched(instruction: str, seed: int = 0) -> bool:
    """Whether alpaca_eval's pairwise annotator (default seed 0) showed the judge output_2 first.

    alpaca_eval seeds the choice on the switch column's name, the instruction and the seed.
    """
    random_seeded_choice = _alpaca_eval("utils").random_seeded_choice
    return bool(random_seeded_choice(seed="is_switched_outputs" + instruction + str(seed), choices=[False, True]))
